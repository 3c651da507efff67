"""DistributedDataParallel on CPU: two gloo processes, as torchrun would start them."""

import json
import os
import socket

import torch
import torch.multiprocessing as mp

from swiftnet_ros.model import load_model

SIZE = (64, 128)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world_size, port, base):
    """One torchrun-like process: the environment torchrun sets, then the real Trainer."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    import torch.distributed as dist

    from swiftnet_ros.train.config import TrainConfig
    from swiftnet_ros.train.trainer import Trainer

    # every rank gets its own out_dir here, so that a rank other than 0 writing anything shows
    config = TrainConfig(dataset="synthetic", model="rn18", size=list(SIZE), train_seed=0, train_num=8,
                         val_seed=500, val_num=2, epochs=2, batch_size=2, workers=0, threads=1, seed=1,
                         crop_size=48, device="cpu", out_dir=os.path.join(base, "rank{}".format(rank)))
    trainer = Trainer(config, progress=False)
    seen = []  # the training samples this process loads (workers=0: in this process), in order
    dataset_type = type(trainer.train_set)
    load = dataset_type.__getitem__

    def recording(self, index):
        if self is trainer.train_set:
            seen.append(int(index))
        return load(self, index)

    dataset_type.__getitem__ = recording
    assert dist.is_initialized() and dist.get_backend() == "gloo" and trainer.dist.world_size == world_size
    trainer.fit()
    torch.save({n: p.detach().clone() for n, p in trainer.model.named_parameters()},
               os.path.join(base, "params{}.pt".format(rank)))
    with open(os.path.join(base, "seen{}.json".format(rank)), "w") as f:
        json.dump(seen, f)
    dist.destroy_process_group()


def test_two_gloo_processes_stay_in_sync_on_different_shards(tmp_path):
    base = str(tmp_path)
    mp.spawn(_worker, args=(2, _free_port(), base), nprocs=2, join=True)

    p0 = torch.load(os.path.join(base, "params0.pt"), weights_only=True)
    p1 = torch.load(os.path.join(base, "params1.pt"), weights_only=True)
    initial = torch.load(os.path.join(base, "rank0", "last.pt"), weights_only=True)
    assert p0.keys() == p1.keys()
    for name in p0:
        assert torch.equal(p0[name], p1[name]), name  # gradients were averaged: identical replicas

    seen0 = json.load(open(os.path.join(base, "seen0.json")))
    seen1 = json.load(open(os.path.join(base, "seen1.json")))
    assert len(seen0) == len(seen1) == 2 * 4  # 2 epochs x 4 of the 8 scenes each
    for epoch in range(2):  # each epoch splits the 8 scenes into two disjoint shards
        a, b = set(seen0[4 * epoch:4 * epoch + 4]), set(seen1[4 * epoch:4 * epoch + 4])
        assert not a & b and a | b == set(range(8))

    assert os.listdir(os.path.join(base, "rank0"))
    assert not os.path.exists(os.path.join(base, "rank1"))  # only rank 0 writes checkpoints and logs
    written = set(os.listdir(os.path.join(base, "rank0")))
    assert {"last.pt", "best.pt", "train.log", "tb", "config.yaml"} <= written

    # rank 0's checkpoint loads into a plain single-process model with the final parameters
    model, meta = load_model(os.path.join(base, "rank0", "last.pt"))
    assert not any(k.startswith("module.") for k in initial["state_dict"])
    params = dict(model.named_parameters())
    for name in p0:
        assert torch.equal(params[name], p0[name]), name
    assert meta["train_state"]["epoch"] == 2
    with torch.no_grad():
        out = model(torch.zeros(1, 3, *SIZE))
    assert out.shape == (1, 19, *SIZE)
