"""SwiftNet model: presets, forward contract, blends, pyramid, checkpoints of our own format."""

import dataclasses
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from swiftnet_ros.infer.export import cpu_has_fp16_kernels
from swiftnet_ros.model import PRESETS, ModelConfig, SwiftNet, build_model, load_model, save_checkpoint
from swiftnet_ros.model.blocks import LevelBatchNorm, adaptive_avg_pool, set_level
from swiftnet_ros.model.config import BLENDS, get_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _image(h, w, n=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, h, w, generator=g) * 255


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_build_and_segment_any_size(preset):
    torch.manual_seed(0)
    model = build_model(preset, num_classes=5).eval()
    assert isinstance(model, SwiftNet) and model.config.name == preset
    x = _image(45, 70)
    before = x.clone()
    with torch.no_grad():
        full = model(x)
        quarter = model(x, full_resolution=False)
    assert full.shape == (1, 5, 45, 70)
    assert quarter.shape == (1, 5, 12, 18)
    assert torch.equal(x, before), "the model modified its input"
    assert torch.isfinite(full).all()


@pytest.mark.parametrize("h,w", [(600, 1000), (513, 777)])
def test_logits_at_input_size_for_sizes_not_multiple_of_32(h, w):
    model = build_model("mnv2", num_classes=3).eval()
    with torch.no_grad():
        assert model(_image(h, w)).shape == (1, 3, h, w)


def test_rn18_odd_size_and_pyramid_odd_size():
    for preset in ("rn18", "rn18-pyramid"):
        model = build_model(preset, num_classes=4).eval()
        with torch.no_grad():
            assert model(_image(133, 201)).shape == (1, 4, 133, 201)


@pytest.mark.skipif(not cpu_has_fp16_kernels(), reason="no half-precision CPU kernels in this PyTorch "
                    "(1.10): fp16 runs on CUDA there; export and the backends refuse fp16 on a CPU")
@pytest.mark.parametrize("preset", ["mnv2", "mnv2-pyramid"])
def test_half_precision_model_takes_float_or_uint8_input(preset):
    torch.manual_seed(0)
    model = build_model(preset, num_classes=3).eval()
    x = _image(32, 64)
    with torch.no_grad():
        reference = model(x)
        model.half()
        half = model(x)
        from_uint8 = model(x.round().to(torch.uint8))
    assert half.dtype == torch.float16 and from_uint8.shape == (1, 3, 32, 64)
    scale = reference.abs().max()
    assert (half.float() - reference).abs().max() < 0.05 * scale
    assert (from_uint8.float() - reference).abs().max() < 0.1 * scale


def test_batch_items_are_independent_in_eval():
    model = build_model("mnv2", num_classes=4).eval()
    x = _image(64, 96, n=2)
    with torch.no_grad():
        both = model(x)
        one = model(x[1:])
    assert torch.allclose(both[1:], one, rtol=1e-4, atol=1e-3)


def test_normalisation_is_inside_the_model():
    model = build_model("rn18").eval()
    assert model.mean.flatten().tolist() == pytest.approx([73.15, 82.90, 72.3])
    assert model.std.flatten().tolist() == pytest.approx([47.67, 48.49, 47.73])
    # a constant image equal to the mean gives zeros into the first conv
    seen = {}

    def hook(module, inputs):
        seen["in"] = inputs[0]

    model.encoder.conv1.register_forward_pre_hook(hook)
    with torch.no_grad():
        model(model.mean.expand(1, 3, 32, 32).clone())
    assert seen["in"].abs().max() < 1e-5


@pytest.mark.parametrize("blend", BLENDS)
def test_blend_variants_build_and_run(blend):
    model = build_model("mnv2", num_classes=3, blend=blend).eval()
    assert model.config.blend == blend
    with torch.no_grad():
        assert model(_image(64, 64)).shape == (1, 3, 64, 64)


def test_blend_variant_layers():
    def blend_convs(blend):
        module = build_model("mnv2", blend=blend).decoder.upsample[0].blend
        return [(m.kernel_size, m.groups, m.in_channels, m.out_channels) for m in module.modules()
                if isinstance(m, torch.nn.Conv2d)]
    assert blend_convs("3x3") == [((3, 3), 1, 128, 128)]
    assert blend_convs("grouped") == [((3, 3), 8, 128, 128)]
    assert blend_convs("separable") == [((3, 3), 128, 128, 128), ((1, 1), 1, 128, 128)]
    assert blend_convs("1x1") == [((1, 1), 1, 128, 128)]
    assert blend_convs("inverted_residual") == [((1, 1), 1, 128, 256), ((3, 3), 256, 256, 256),
                                                ((1, 1), 1, 256, 128)]


def test_nearest_mode_uses_no_bilinear_resize(monkeypatch):
    modes = []
    original = F.interpolate

    def spy(*args, **kwargs):
        modes.append(kwargs.get("mode"))
        return original(*args, **kwargs)

    monkeypatch.setattr(F, "interpolate", spy)
    cases = [("jetson-tx2", {}, {"nearest"}), ("rn18", {}, {"bilinear"}),
             ("mnv2-pyramid", {"upsample": "nearest"}, {"nearest"}),
             ("mnv2-pyramid", {}, {"bilinear", "bicubic"})]
    for preset, overrides, expected in cases:
        modes.clear()
        with torch.no_grad():
            build_model(preset, num_classes=2, **overrides).eval()(_image(48, 64))
        assert set(modes) == expected, preset
    assert PRESETS["jetson-tx2"].upsample == "nearest"
    assert PRESETS["jetson-tx2"].precision == "fp16" and PRESETS["jetson-tx2"].input_size == [1024, 512]


def test_upsample_mode_changes_the_output():
    torch.manual_seed(0)
    a = build_model("mnv2", num_classes=3).eval()
    b = build_model("mnv2", num_classes=3, upsample="nearest").eval()
    b.load_state_dict(a.state_dict())
    x = _image(64, 96)
    with torch.no_grad():
        assert not torch.allclose(a(x), b(x))


def test_pyramid_levels_and_per_level_bn():
    two = build_model("rn18-pyramid")
    three = build_model("rn18-pyramid", pyramid_levels=3)
    assert two.config.pyramid_levels == 2 and three.config.pyramid_levels == 3
    assert len(two.encoder.bn1) == 2 and len(three.encoder.bn1) == 3
    assert len(three.encoder.layer2[0].downsample[1]) == 3
    assert len(two.decoder.blends) == 4 and len(three.decoder.blends) == 5
    assert not hasattr(two.decoder, "spp")
    mnv2 = build_model("mnv2-pyramid")
    assert len(mnv2.encoder.features[5].conv[0][1]) == 2
    # separate BN per level: changing level 1's statistics changes the output, level 0 alone is not enough
    x = _image(64, 64)
    two.eval()
    with torch.no_grad():
        before = two(x)
        two.encoder.bn1[1].running_mean.fill_(3.0)
        after = two(x)
    assert not torch.allclose(before, after)


@pytest.mark.parametrize("preset", ["rn18-pyramid", "mnv2-pyramid"])
def test_pyramid_encoder_is_plain_and_set_level_picks_the_batchnorms(preset):
    # blocks take one tensor, as torchvision's; the pyramid selects each level's BN with set_level
    model = build_model(preset, num_classes=3).eval()
    encoder = model.encoder
    norms = [m for m in encoder.modules() if isinstance(m, LevelBatchNorm)]
    assert norms and all(len(m) == 2 for m in norms)
    x = _image(64, 64)
    with torch.no_grad():
        base = encoder(x)[-1]
        for m in norms:
            m[1].running_mean.fill_(3.0)
        assert torch.equal(encoder(x)[-1], base)  # level 0 is active by default
        set_level(encoder, 1)
        assert not torch.allclose(encoder(x)[-1], base)
        model(x)
    assert all(m.level == 0 for m in norms)  # the pyramid's forward leaves level 0 active
    with pytest.raises(ValueError, match="pyramid level 2: expected 0 to 1"):
        set_level(encoder, 2)


def test_pyramid_sums_equal_resolution_features():
    model = build_model("rn18-pyramid", num_classes=3).eval()
    sizes = []
    for blend in model.decoder.blends:
        blend.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[-2:])))
    with torch.no_grad():
        model(_image(128, 256))
    # strides 32*2 -> 32, 16, 8, 4 for two levels
    assert sizes == [(4, 8), (8, 16), (16, 32), (32, 64)]


def test_parameter_groups_partition_the_model():
    model = build_model("rn18")
    enc = {id(p) for p in model.encoder_parameters()}
    dec = {id(p) for p in model.decoder_parameters()}
    assert not enc & dec
    assert enc | dec == {id(p) for p in model.parameters()}
    assert sum(p.numel() for p in model.decoder_parameters()) == 620559  # the reference code's count


def test_adaptive_avg_pool_matches_torch():
    x = torch.randn(2, 5, 17, 25)
    for grid in [(8, 12), (4, 6), (2, 3), (1, 1), (17, 25), (5, 5)]:
        assert torch.allclose(adaptive_avg_pool(x, grid), F.adaptive_avg_pool2d(x, grid), atol=1e-5), grid


def test_spp_grids_follow_the_feature_aspect_ratio():
    spp = build_model("mnv2").eval().decoder.spp
    grids = []
    for level in spp.levels:
        level.register_forward_hook(lambda m, i, o: grids.append(tuple(i[0].shape[-2:])))
    cases = [((8, 16), [(8, 16), (4, 8), (2, 4)]),  # 1024 x 2048 input
             ((3, 10), [(8, 27), (4, 13), (2, 7)]),  # round(8 * 10 / 3) = 27
             ((4, 5), [(8, 10), (4, 5), (2, 2)])]    # Python's round(2.5) = 2 (half to even)
    for (h, w), expected in cases:
        grids.clear()
        with torch.no_grad():
            out = spp(torch.randn(1, 320, h, w))
        assert grids == expected and out.shape == (1, 128, h, w)


def test_config_validation_and_roundtrip():
    cfg = get_config("mnv2", blend="separable", num_classes=11)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="blend='5x5'"):
        build_model("rn18", blend="5x5")
    with pytest.raises(ValueError, match="encoder='vgg'"):
        ModelConfig(encoder="vgg")
    with pytest.raises(ValueError, match="pyramid_levels=1"):
        build_model("rn18", pyramid_levels=1)
    with pytest.raises(ValueError, match="unknown model config field"):
        build_model("rn18", colour="red")
    with pytest.raises(ValueError, match="'rn50'"):
        build_model("rn50")


def test_build_from_config_dict_and_yaml_keeps_their_classes(tmp_path):
    cfg = get_config("rn18", num_classes=11)
    assert build_model(cfg).config.num_classes == 11
    assert build_model(cfg.to_dict()).config.num_classes == 11
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    assert build_model(str(path)).config == cfg


def test_yaml_presets_mirror_presets():
    folder = os.path.join(REPO, "config", "models")
    files = sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml"))
    assert files == sorted(PRESETS)
    for name in files:
        with open(os.path.join(folder, name + ".yaml")) as f:
            assert ModelConfig.from_dict(yaml.safe_load(f)) == PRESETS[name], name


def test_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = build_model("mnv2", num_classes=3, blend="grouped").eval()
    names = ["road", "car", "sky"]
    palette = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.uint8)
    path = str(tmp_path / "sub" / "m.pt")
    save_checkpoint(path, model, names, palette, extra={"epoch": 7, "optimizer": {"lr": torch.tensor(1e-4)}})
    loaded, meta = load_model(path, map_location=torch.device("cpu"))
    assert not loaded.training and loaded.mean.device.type == "cpu"
    assert meta["config"] == model.config and dataclasses.is_dataclass(meta["config"])
    assert meta["class_names"] == names and meta["palette"] == palette.tolist()
    assert meta["format"] == "swiftnet_ros/1" and meta["epoch"] == 7
    assert float(meta["optimizer"]["lr"]) == pytest.approx(1e-4)
    x = _image(40, 50)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_checkpoint_keeps_optimiser_state_for_resume(tmp_path):
    torch.manual_seed(0)
    model = build_model("mnv2", num_classes=2)
    groups = [{"params": list(model.encoder_parameters()), "lr": 1e-4},
              {"params": list(model.decoder_parameters()), "lr": 4e-4}]
    optimiser = torch.optim.Adam(groups, betas=(0.9, 0.99))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, 10, 1e-6)
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.01)
    optimiser.step()
    scheduler.step()
    path = str(tmp_path / "resume.pt")
    extra = {"optimizer": optimiser.state_dict(), "scheduler": scheduler.state_dict(), "epoch": 1}
    save_checkpoint(path, model, ["a", "b"], [[0, 0, 0]] * 2, extra=extra)
    loaded, meta = load_model(path)
    restored = torch.optim.Adam([{"params": list(loaded.encoder_parameters())},
                                 {"params": list(loaded.decoder_parameters())}])
    restored.load_state_dict(meta["optimizer"])
    assert restored.param_groups[1]["lr"] == optimiser.param_groups[1]["lr"]
    assert meta["scheduler"]["last_epoch"] == 1 and meta["epoch"] == 1


def test_save_checkpoint_rejects_bad_metadata(tmp_path):
    model = build_model("mnv2", num_classes=2)
    with pytest.raises(ValueError, match="3 class names"):
        save_checkpoint(str(tmp_path / "a.pt"), model, ["a", "b", "c"], [[0, 0, 0], [1, 1, 1]])
    with pytest.raises(ValueError, match="palette"):
        save_checkpoint(str(tmp_path / "a.pt"), model, ["a", "b"], [[0, 0, 0]])
    with pytest.raises(ValueError, match=r"extra\['state'\]\['step'\] is a float64: expected tensors"):
        save_checkpoint(str(tmp_path / "a.pt"), model, ["a", "b"], [[0, 0, 0]] * 2,
                        extra={"state": {"step": np.float64(3)}})
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(str(tmp_path / "a.pt"), model, ["a", "b"], [[0, 0, 0]] * 2, extra={"config": 1})


def test_load_model_errors_name_file_and_expectation(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_model(str(tmp_path / "nope.pt"))
    bad = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(2)}, str(bad))
    with pytest.raises(ValueError, match=r"other\.pt: unrecognised checkpoint .*encoder\.weight.*expected"):
        load_model(str(bad))
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"text\.pt: not a readable torch checkpoint"):
        load_model(str(text))
    model = build_model("mnv2", num_classes=2)
    path = str(tmp_path / "m.pt")
    save_checkpoint(path, model, ["a", "b"], [[0, 0, 0], [1, 1, 1]])
    data = torch.load(path)
    data["state_dict"].pop("logits.conv.bias")
    torch.save(data, path)
    with pytest.raises(ValueError, match="1 missing: logits.conv.bias"):
        load_model(path)
