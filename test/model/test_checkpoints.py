"""Importing weights: torchvision ImageNet files and the reference SwiftNet checkpoints.

State dicts are built from the key/shape lists in test/model_keys/ (copies of
../shared/reference/), filled with seeded random values. The reference models' forward passes
are re-implemented here functionally (F.conv2d on the raw state dict, following the reference
code orsic/swiftnet) so the import is checked for the function it computes, not only for names.
"""

import os
import re

import pytest
import torch
import torch.nn.functional as F

from swiftnet_ros.data.labels import get_label_set
from swiftnet_ros.model import build_model, load_encoder_weights, load_model
from swiftnet_ros.model.checkpoints import IMAGENET_MEAN_255, IMAGENET_STD_255

KEYS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_keys")


def parse_key_list(filename):
    """{section title: [(key, shape), ...]} from a '## section' / 'key<TAB>(shape)' listing."""
    sections, current = {}, None
    with open(os.path.join(KEYS, filename)) as f:
        for line in f:
            if line.startswith("## "):
                current = sections.setdefault(line[3:].split(":")[0].split(" (")[0].strip(), [])
            elif current is not None and "\t(" in line:
                key, shape = line.split("\t")[:2]
                current.append((key, tuple(int(s) for s in re.findall(r"\d+", shape))))
    return sections


TORCHVISION = parse_key_list("torchvision-imagenet-keys.txt")
REFERENCE = parse_key_list("swiftnet-checkpoint-keys.txt")


def random_state(entries, seed):
    """Seeded values of a plausible scale (so a 20-layer forward stays finite and non-trivial)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in entries:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(100)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith(("running_mean", "bias")):
            state[key] = torch.randn(shape, generator=g) * 0.1
        elif key.endswith("img_mean"):
            state[key] = torch.tensor([70.0, 80.0, 75.0]).view(shape)
        elif key.endswith("img_std"):
            state[key] = torch.tensor([45.0, 47.0, 46.0]).view(shape)
        elif len(shape) == 1:  # BN weight
            state[key] = 1 + torch.randn(shape, generator=g) * 0.1
        else:
            fan_in = max(1, int(torch.tensor(shape[1:]).prod()))
            state[key] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
    return state


def test_key_lists_parse():
    assert len(TORCHVISION["resnet18"]) == 122 and len(TORCHVISION["mobilenet_v2"]) == 314
    assert len(REFERENCE["HEAD"]) == 75 and len(REFERENCE["first commit"]) == 72


# ---------------------------------------------------------------- torchvision ImageNet weights
@pytest.mark.parametrize("preset,arch,head", [
    ("rn18", "resnet18", ["fc.bias", "fc.weight"]),
    ("mnv2", "mobilenet_v2", ["classifier.1.bias", "classifier.1.weight"]),
])
def test_torchvision_state_dict_loads_into_encoder(preset, arch, head):
    state = random_state(TORCHVISION[arch], seed=1)
    model = build_model(preset)
    ignored = load_encoder_weights(model, state)
    unused = [k for k in ignored if k.startswith("features.18.")]
    assert sorted(set(ignored) - set(unused)) == head
    assert len(unused) == (6 if arch == "mobilenet_v2" else 0)  # the 1x1 conv to 1280 of the ImageNet head
    encoder = model.encoder.state_dict()
    assert len(encoder) == len(state) - len(ignored)
    for key, value in encoder.items():
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize("preset,arch", [("rn18-pyramid", "resnet18"), ("mnv2-pyramid", "mobilenet_v2")])
def test_torchvision_state_dict_initialises_every_pyramid_level(preset, arch):
    state = random_state(TORCHVISION[arch], seed=2)
    model = build_model(preset, pyramid_levels=3)
    load_encoder_weights(model, state)
    encoder = model.encoder.state_dict()
    bn = "bn1" if arch == "resnet18" else "features.0.1"
    for level in range(3):
        assert torch.equal(encoder["{}.{}.running_var".format(bn, level)], state[bn + ".running_var"])
    assert torch.equal(encoder["{}.weight".format("conv1" if arch == "resnet18" else "features.0.0")],
                       state["conv1.weight" if arch == "resnet18" else "features.0.0.weight"])


def test_torchvision_file_through_load_model(tmp_path):
    path = str(tmp_path / "resnet18-f37072fd.pth")
    state = random_state(TORCHVISION["resnet18"], seed=3)
    torch.save(state, path)
    model, meta = load_model(path)
    assert meta["format"] == "torchvision-resnet18" and meta["config"].name == "rn18"
    assert meta["ignored_keys"] == ["fc.bias", "fc.weight"]
    assert len(meta["class_names"]) == 19 and meta["class_names"][0] == "road"
    assert torch.equal(model.encoder.layer3[1].bn2.running_mean, state["layer3.1.bn2.running_mean"])
    path = str(tmp_path / "mobilenet_v2.pth")
    torch.save(random_state(TORCHVISION["mobilenet_v2"], seed=3), path)
    ignored = load_encoder_weights(build_model("mnv2"), path)  # a path works too
    assert "classifier.1.weight" in ignored


def test_torchvision_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="expected a resnet18 ImageNet state dict for encoder resnet18"):
        load_encoder_weights(build_model("rn18"), random_state(TORCHVISION["mobilenet_v2"], seed=4))
    state = random_state(TORCHVISION["resnet18"], seed=4)
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    state["layer9.weight"] = torch.zeros(1)
    expected = "1 unexpected: layer9.weight; 1 wrong shape: layer1.0.conv1.weight"
    with pytest.raises(ValueError, match=expected):
        load_encoder_weights(build_model("rn18"), state)


# ---------------------------------------------------------------- reference SwiftNet, single scale
def reference_single_scale_state(section, seed, num_classes=19):
    entries = [("backbone." + k, s) for k, s in TORCHVISION["resnet18"] if not k.startswith("fc.")]
    for key, shape in REFERENCE[section]:
        entries.append((key, (num_classes,) + shape[1:] if key.startswith("logits.conv") else shape))
    return random_state(entries, seed)


def _bn(x, sd, p):
    return F.batch_norm(x, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"],
                        sd[p + ".bias"], False, 0.0, 1e-5)


def _brc(x, sd, p):
    w = sd[p + ".conv.weight"]
    return F.conv2d(F.relu(_bn(x, sd, p + ".norm")), w, sd.get(p + ".conv.bias"), padding=w.shape[-1] // 2)


def _up(x, size):
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _block(x, sd, p, stride, bn_suffix=""):
    out = F.conv2d(x, sd[p + ".conv1.weight"], stride=stride, padding=1)
    out = F.relu(_bn(out, sd, p + ".bn1" + bn_suffix))
    out = _bn(F.conv2d(out, sd[p + ".conv2.weight"], padding=1), sd, p + ".bn2" + bn_suffix)
    if p + ".downsample.0.weight" in sd:  # one BN, shared by all pyramid levels in the reference
        x = _bn(F.conv2d(x, sd[p + ".downsample.0.weight"], stride=stride), sd, p + ".downsample.1")
    out = out + x
    return F.relu(out), out


def _stem(x, sd, bn):
    x = F.conv2d(x, sd["backbone.conv1.weight"], stride=2, padding=3)
    return F.max_pool2d(F.relu(_bn(x, sd, bn)), 3, 2, 1)


def reference_single_scale_forward(sd, image, mean, std):
    """orsic/swiftnet resnet_single_scale.py + semseg.py, eval mode."""
    x = _stem((image - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1), sd, "backbone.bn1")
    feats = []
    for i, stride in enumerate((1, 2, 2, 2)):
        x, _ = _block(x, sd, "backbone.layer{}.0".format(i + 1), stride)
        x, _ = _block(x, sd, "backbone.layer{}.1".format(i + 1), 1)
        feats.append(x)  # in-place ReLU: the skip is the post-ReLU output
    h, w = feats[3].shape[-2:]
    s = _brc(feats[3], sd, "backbone.spp.spp.spp_bn")
    levels = [s]
    for i, g in enumerate((8, 4, 2)):
        pooled = F.adaptive_avg_pool2d(s, (g, max(1, round(w / h * g))))
        levels.append(_up(_brc(pooled, sd, "backbone.spp.spp.spp{}".format(i)), (h, w)))
    x = _brc(torch.cat(levels, 1), sd, "backbone.spp.spp.spp_fuse")
    for i, skip in enumerate((feats[2], feats[1], feats[0])):
        skip = _brc(skip, sd, "backbone.upsample.{}.bottleneck".format(i))
        x = _brc(_up(x, skip.shape[-2:]) + skip, sd, "backbone.upsample.{}.blend_conv".format(i))
    return _up(_brc(x, sd, "logits"), image.shape[-2:])


@pytest.mark.parametrize("section,fmt", [("HEAD", "reference-single-scale"),
                                         ("first commit", "reference-single-scale-v1")])
def test_reference_single_scale_checkpoint_loads_and_matches_reference_forward(tmp_path, section, fmt):
    state = reference_single_scale_state(section, seed=5)
    assert len(state) == (195 if section == "HEAD" else 192)
    path = str(tmp_path / "model_best.pt")
    torch.save(state, path)
    model, meta = load_model(path)
    assert meta["format"] == fmt and meta["config"].pyramid_levels == 0
    assert meta["class_names"][:2] == ["road", "sidewalk"] and len(meta["palette"]) == 19
    if section == "HEAD":
        mean, std = state["backbone.img_mean"].flatten(), state["backbone.img_std"].flatten()
        assert meta["config"].logits_kernel == 1
    else:  # no buffers: ImageNet statistics x 255, 3x3 logits without bias
        mean, std = torch.tensor(IMAGENET_MEAN_255), torch.tensor(IMAGENET_STD_255)
        assert meta["config"].logits_kernel == 3 and model.logits.conv.bias is None
    assert meta["config"].mean == pytest.approx(mean.tolist())
    image = torch.rand(1, 3, 70, 150, generator=torch.Generator().manual_seed(6)) * 255
    with torch.no_grad():
        ours = model(image)
        expected = reference_single_scale_forward(state, image, mean, std)
    assert ours.shape == (1, 19, 70, 150)
    assert expected.abs().max() > 1e-2
    assert torch.allclose(ours, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def test_reference_checkpoint_with_other_class_count_and_wrapped(tmp_path):
    state = reference_single_scale_state("HEAD", seed=7, num_classes=11)
    path = str(tmp_path / "camvid.pt")
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, path)
    model, meta = load_model(path)
    assert meta["config"].num_classes == 11
    assert meta["class_names"] == list(get_label_set("camvid").class_names)


def test_reference_checkpoint_with_missing_key_is_refused(tmp_path):
    state = reference_single_scale_state("HEAD", seed=8)
    del state["backbone.upsample.1.blend_conv.norm.bias"]
    path = str(tmp_path / "broken.pt")
    torch.save(state, path)
    with pytest.raises(ValueError, match="1 missing: decoder.upsample.1.blend.norm.bias"):
        load_model(path)


# ---------------------------------------------------------------- reference SwiftNet, pyramid
def reference_pyramid_state(levels, seed):
    """Keys of orsic/swiftnet HEAD resnet_pyramid.py: per-level BN as ModuleLists ("bn1.<level>"),
    one shared downsample BN, plain 1x1 upsample_bottlenecks (layer4 first), levels + 2 blends."""
    entries = [("backbone.img_mean", (1, 3, 1, 1)), ("backbone.img_std", (1, 3, 1, 1))]
    for key, shape in TORCHVISION["resnet18"]:
        if key.startswith("fc."):
            continue
        module, _, param = key.rpartition(".")
        if re.search(r"(^|\.)bn[12]$", module):
            entries += [("backbone.{}.{}.{}".format(module, lvl, param), shape) for lvl in range(levels)]
        else:
            entries.append(("backbone." + key, shape))
    for k, channels in enumerate((512, 256, 128, 64)):
        entries.append(("backbone.upsample_bottlenecks.{}.weight".format(k), (128, channels, 1, 1)))
    for j in range(levels + 2):
        p = "backbone.upsample_blends.{}.blend_conv.".format(j)
        entries += [(p + "norm." + n, (128,) if n != "num_batches_tracked" else ())
                    for n in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
        entries.append((p + "conv.weight", (128, 128, 3, 3)))
    entries += [("logits.norm." + n, (128,) if n != "num_batches_tracked" else ())
                for n in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
    entries += [("logits.conv.weight", (19, 128, 1, 1)), ("logits.conv.bias", (19,))]
    return random_state(entries, seed)


def reference_pyramid_forward(sd, image, levels):
    """orsic/swiftnet resnet_pyramid.py (HEAD) + semseg.py, eval mode."""
    x = (image - sd["backbone.img_mean"]) / sd["backbone.img_std"]
    pyramid = [x] + [F.interpolate(x, scale_factor=1 / 2 ** lvl, mode="bicubic", align_corners=False)
                     for lvl in range(1, levels)]
    skips = [[] for _ in range(levels + 3)]
    for lvl, p in enumerate(pyramid):
        x = _stem(p, sd, "backbone.bn1.{}".format(lvl))
        features = []
        for i, stride in enumerate((1, 2, 2, 2)):
            x, _ = _block(x, sd, "backbone.layer{}.0".format(i + 1), stride, ".{}".format(lvl))
            x, pre = _block(x, sd, "backbone.layer{}.1".format(i + 1), 1, ".{}".format(lvl))
            features.append(pre)  # non-in-place ReLU: the skip is the sum before it
        for i, f in enumerate(features):
            skips[lvl + i].append(F.conv2d(f, sd["backbone.upsample_bottlenecks.{}.weight".format(3 - i)]))
    skips = skips[::-1]
    x = skips[0][0]
    for j, sk in enumerate(skips[1:]):
        skip = sum(sk)
        x = _brc(_up(x, skip.shape[-2:]) + skip, sd, "backbone.upsample_blends.{}.blend_conv".format(j))
    return _up(_brc(x, sd, "logits"), image.shape[-2:])


def test_reference_pyramid_checkpoint_sets_three_levels_and_matches_reference_forward(tmp_path):
    state = reference_pyramid_state(3, seed=9)
    path = str(tmp_path / "rn18_pyramid.pt")
    torch.save(state, path)
    model, meta = load_model(path)
    assert meta["format"] == "reference-pyramid" and meta["config"].pyramid_levels == 3
    image = torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(10)) * 255
    with torch.no_grad():
        ours = model(image)
        expected = reference_pyramid_forward(state, image, 3)
    assert expected.abs().max() > 1e-2
    assert torch.allclose(ours, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
