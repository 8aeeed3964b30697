"""NetTrain checkpoints: files per round or one file, resuming bit-identically (from a round
boundary, after an exception or KeyboardInterrupt in the progress callback), refusing another
run's or a damaged checkpoint, and a soak test of repeated interruptions."""

from __future__ import annotations

import hashlib
import os
import re

import numpy as np
import pytest
from training_check import QUIET, arrays, assert_same_arrays, assert_same_run

import netgraph as ng

RNG = np.random.default_rng(2024)
X = RNG.normal(size=(30, 3))
Y = np.tanh(X @ RNG.normal(size=(3, 2)))
XV = RNG.normal(size=(6, 3))
YV = np.tanh(XV @ RNG.normal(size=(3, 2)))
# ADAM (optimizer slots), BatchNormalization (moving statistics), Dropout (the layer RNG),
# a validation set (best-round arrays) and 4 batches per round, the last of 6 examples
OPTIONS = {**QUIET, "BatchSize": 8, "RandomSeeding": 17, "ValidationSet": (XV, YV)}


def model() -> ng.NetChain:
    return ng.NetChain(
        {
            "lin": ng.LinearLayer(6),
            "bn": ng.BatchNormalizationLayer(),
            "act": "Tanh",
            "drop": ng.DropoutLayer(0.2),
            "out": ng.LinearLayer(2),
        },
        Input=3,
    )


def train(rounds: int, **options):
    return ng.NetTrain(model(), (X, Y), "All", MaxTrainingRounds=rounds, **{**OPTIONS, **options})


@pytest.fixture(scope="module")
def uninterrupted():
    return train(5)


def assert_resumed_equals(resumed, uninterrupted) -> None:
    assert_same_run(resumed, uninterrupted)
    for name in ("BestValidationRound", "TotalRounds", "TotalBatches", "ExamplesProcessed"):
        assert resumed[name] == uninterrupted[name], name


def checkpoint_path(message: str) -> str:
    match = re.search(r"checkpoint of the last completed batch to (\S+\.safetensors)", message)
    assert match, message
    return match.group(1)


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# --------------------------------------------------------------------------- locations


def test_directory_gets_one_file_per_round(tmp_path, uninterrupted):
    results = train(3, TrainingProgressCheckpointing=("Directory", tmp_path))
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 3
    assert [os.path.basename(p) for p in results["CheckpointingFiles"]] == names
    assert len({digest(tmp_path / n) for n in names}) == 3
    # a checkpoint also reads as the net of its round
    net = ng.Import(str(tmp_path / names[1]))
    two_rounds = ng.NetTrain(
        model(), (X, Y), MaxTrainingRounds=2, **{**OPTIONS, "ValidationSet": None}
    )
    assert_same_arrays(net, two_rounds)


def test_file_is_replaced_each_round(tmp_path):
    path = tmp_path / "run.ckpt"
    seen = []

    def record(info):
        if info["batch"] == 1 and info["round"] > 1:  # the previous round's checkpoint
            seen.append(digest(path))

    results = train(
        4, TrainingProgressCheckpointing=("File", str(path)), TrainingProgressFunction=record
    )
    assert os.listdir(tmp_path) == ["run.ckpt"]
    assert results["CheckpointingFiles"] == [str(path)]
    seen.append(digest(path))
    assert len(seen) == 4 and len(set(seen)) == 4


def test_unusable_locations_are_refused_before_training(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    calls = []
    for option in (("Directory", a_file), ("File", tmp_path), ("Folder", tmp_path)):
        with pytest.raises(ng.NetOptionError, match="TrainingProgressCheckpointing"):
            train(2, TrainingProgressCheckpointing=option, TrainingProgressFunction=calls.append)
    assert calls == []


def test_a_failed_emergency_checkpoint_keeps_the_users_exception(tmp_path):
    def callback(info):
        if info["batch"] == 2:
            (tmp_path / "sub").write_text("in the way of the checkpoint directory")
            raise Stop("user stop")

    with pytest.raises(Stop, match=r"^user stop \(NetTrain could not write a checkpoint"):
        train(
            3,
            TrainingProgressCheckpointing=("File", tmp_path / "sub" / "run.ckpt"),
            TrainingProgressFunction=callback,
        )


# ------------------------------------------------------------------------------ resume


@pytest.mark.parametrize("at_round", [1, 3])
def test_resume_from_a_round_checkpoint_is_bit_identical(tmp_path, uninterrupted, at_round):
    train(at_round, TrainingProgressCheckpointing=("Directory", tmp_path))
    path = tmp_path / sorted(os.listdir(tmp_path))[at_round - 1]
    resumed = train(5, ResumeFrom=str(path))  # MaxTrainingRounds counts the total
    assert_resumed_equals(resumed, uninterrupted)


def test_resume_with_the_rounds_already_done_returns_that_net(tmp_path):
    three = train(3, TrainingProgressCheckpointing=("File", tmp_path / "c"))
    again = train(3, ResumeFrom=tmp_path / "c")
    assert_resumed_equals(again, three)


class Stop(Exception):
    pass


def interrupt_at(round_: int, batch: int, error: BaseException):
    def callback(info):
        if (info["round"], info["batch"]) == (round_, batch):
            raise error

    return callback


@pytest.mark.parametrize("batch", [2, 4])
def test_exception_in_the_callback_writes_a_checkpoint_to_resume_from(uninterrupted, batch):
    with pytest.raises(Stop) as info:
        train(5, TrainingProgressFunction=interrupt_at(3, batch, Stop("user stop")))
    message = str(info.value)
    assert message.startswith("user stop")
    path = checkpoint_path(message)
    try:
        resumed = train(5, ResumeFrom=path)
        assert_resumed_equals(resumed, uninterrupted)
    finally:
        os.remove(path)


def test_keyboard_interrupt_writes_a_checkpoint_to_resume_from(tmp_path, uninterrupted):
    with pytest.raises(KeyboardInterrupt) as info:
        train(
            5,
            TrainingProgressFunction=interrupt_at(3, 1, KeyboardInterrupt()),
            TrainingProgressCheckpointing=("Directory", tmp_path),
        )
    path = checkpoint_path(str(info.value))
    assert os.path.dirname(path) == str(tmp_path)  # the checkpointing location
    assert "round0002-batch00001" in path
    resumed = train(5, ResumeFrom=path)
    assert_resumed_equals(resumed, uninterrupted)


def test_interrupt_in_the_round_report_resumes_without_repeating_the_round(tmp_path, uninterrupted):
    def report(info):
        if info["round"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        train(5, TrainingProgressReporting=report)
    path = checkpoint_path(str(info.value))
    try:
        assert_resumed_equals(train(5, ResumeFrom=path), uninterrupted)
    finally:
        os.remove(path)


def test_ctrl_c_during_validation_resumes_without_repeating_the_round(monkeypatch, uninterrupted):
    """Ctrl-C landing while the validation loss of round 2 is computed (simulated by patching
    the evaluation): the resumed run closes round 2 and goes on with round 3."""
    from netgraph.training.loop import Trainer

    original = Trainer.evaluate
    calls = {"n": 0}

    def evaluate(self, data):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, data)

    monkeypatch.setattr(Trainer, "evaluate", evaluate)
    with pytest.raises(KeyboardInterrupt) as info:
        train(5)
    monkeypatch.setattr(Trainer, "evaluate", original)
    path = checkpoint_path(str(info.value))
    try:
        assert_resumed_equals(train(5, ResumeFrom=path), uninterrupted)
    finally:
        os.remove(path)


def test_a_real_sigint_inside_a_step_lands_after_it(monkeypatch, uninterrupted):
    """A SIGINT arriving while the optimizer computes step 6 (after ADAM's moments moved,
    before the arrays and counters did) is held until the step is complete: the emergency
    checkpoint holds whole steps and the resumed run equals the uninterrupted one."""
    import signal

    from netgraph.training.optimizers import Optimizer

    original = Optimizer.compute_step
    calls = {"n": 0}

    def compute_step(self, t, total):
        step = original(self, t, total)
        calls["n"] += 1
        if calls["n"] == 6:
            os.kill(os.getpid(), signal.SIGINT)  # delivered at the next bytecode, mid-step
        return step

    monkeypatch.setattr(Optimizer, "compute_step", compute_step)
    with pytest.raises(KeyboardInterrupt) as info:
        train(5)
    monkeypatch.setattr(Optimizer, "compute_step", original)
    path = checkpoint_path(str(info.value))
    try:
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
        assert_resumed_equals(train(5, ResumeFrom=path), uninterrupted)
    finally:
        os.remove(path)


def test_a_sigint_handler_the_user_installed_is_left_alone():
    import signal

    seen = []

    def mine(signum, frame):
        seen.append(signum)

    previous = signal.signal(signal.SIGINT, mine)
    try:
        ng.NetTrain(
            model(),
            (X, Y),
            MaxTrainingRounds=1,
            TrainingProgressFunction=lambda info: os.kill(os.getpid(), signal.SIGINT),
            **OPTIONS,
        )
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen and set(seen) == {signal.SIGINT}  # training went on; the user's handler ran


# --------------------------------------------------------------------- refused resumes


@pytest.fixture(scope="module")
def round_two(tmp_path_factory):
    directory = tmp_path_factory.mktemp("round_two")
    train(2, TrainingProgressCheckpointing=("Directory", directory))
    return directory / sorted(os.listdir(directory))[1]


def other_model():
    return ng.NetChain([ng.LinearLayer(6), "Tanh", ng.LinearLayer(2)], Input=3)


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"net": other_model}, "topology"),
        ({"data": (X[:24], Y[:24])}, "examples: checkpoint has 30, this run 24"),
        ({"BatchSize": 4}, "batch_size: checkpoint has 8, this run 4"),
        ({"Method": "SGD"}, "method"),
        ({"LearningRate": 0.01}, "LearningRate: 0.001 vs 0.01"),
        ({"Method": ("ADAM", {"Beta1": 0.8})}, "Beta1: 0.9 vs 0.8"),
        ({"LearningRateMultipliers": {"lin": 0.5}}, "('lin', 'Weights'): 1.0 vs 0.5"),
        ({"RandomSeeding": 18}, "seed: checkpoint has 17, this run 18"),
        ({"WorkingPrecision": "Real64"}, "precision"),
        ({"ValidationSet": None}, "validation_examples"),
    ],
    ids=[
        "structure",
        "data size",
        "batch size",
        "method",
        "learning rate",
        "sub-option",
        "multipliers",
        "seed",
        "precision",
        "validation",
    ],
)
def test_resume_into_another_run_is_refused(round_two, change, fragment, tmp_path):
    change = dict(change)
    net = change.pop("net", model)()
    data = change.pop("data", (X, Y))
    before = digest(round_two)
    calls = []
    options = {**OPTIONS, **change, "TrainingProgressCheckpointing": ("Directory", tmp_path)}
    with pytest.raises(ng.NetLoadError) as info:
        ng.NetTrain(
            net,
            data,
            MaxTrainingRounds=5,
            ResumeFrom=round_two,
            TrainingProgressFunction=calls.append,
            **options,
        )
    message = str(info.value)
    assert "different training run" in message and fragment in message, message
    assert calls == [] and os.listdir(tmp_path) == []  # nothing ran, nothing written
    assert digest(round_two) == before


def _damaged(source, tmp_path, how: str):
    data = bytearray(open(source, "rb").read())
    header = 8 + int.from_bytes(data[:8], "little")
    if how == "flipped tensor byte":
        data[header + (len(data) - header) // 2] ^= 0x40
    elif how == "flipped header byte":
        data[header // 2] ^= 0x01
    elif how == "truncated":
        data = data[: len(data) - 13]
    elif how == "empty":
        data = bytearray()
    elif how == "text":
        data = bytearray(b"not a checkpoint at all\n" * 10)
    path = tmp_path / f"{how.replace(' ', '_')}.safetensors"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "how", ["flipped tensor byte", "flipped header byte", "truncated", "empty", "text"]
)
def test_damaged_checkpoint_is_a_load_error(round_two, tmp_path, how):
    path = _damaged(round_two, tmp_path, how)
    calls = []
    with pytest.raises(ng.NetLoadError):
        train(5, ResumeFrom=path, TrainingProgressFunction=calls.append)
    assert calls == []


def _rewritten(source, tmp_path, edit) -> str:
    """The checkpoint with its training state edited, written with a valid checksum: a file that
    is well-formed but whose contents are wrong."""
    import json

    from netgraph import _safefile

    tensors, metadata = _safefile.read_tensors(str(source))
    state = json.loads(metadata["netgraph.training"])
    edit(state, tensors)
    metadata = {**metadata, "netgraph.training": json.dumps(state)}
    path = str(tmp_path / "edited.safetensors")
    _safefile.write_tensors(path, tensors, metadata)
    return path


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (lambda s, t: s.pop("counters"), "damaged"),
        (lambda s, t: s["counters"].update(batch=99), "damaged"),
        (lambda s, t: s["rng"].update(shuffle={"bit_generator": "Nope"}), "damaged"),
        (lambda s, t: s["history"].update(RoundLossList="x"), "damaged"),
        (lambda s, t: s.update(version=99), "format_version 99"),
        (lambda s, t: s.update(format="something else"), "not a NetTrain checkpoint"),
        (lambda s, t: t.pop("slots/m"), "optimizer slot 'm'"),
    ],
    ids=["no counters", "batch", "rng", "history", "version", "format", "slot"],
)
def test_well_formed_file_with_a_wrong_state_is_a_load_error(round_two, tmp_path, edit, fragment):
    path = _rewritten(round_two, tmp_path, edit)
    calls = []
    with pytest.raises(ng.NetLoadError, match=fragment):
        train(5, ResumeFrom=path, TrainingProgressFunction=calls.append)
    assert calls == []


def test_exported_net_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "net.safetensors"
    ng.Export(str(path), ng.NetInitialize(model()))
    with pytest.raises(ng.NetLoadError, match="not a NetTrain checkpoint"):
        train(5, ResumeFrom=path)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        train(5, ResumeFrom=tmp_path / "nowhere.safetensors")


# -------------------------------------------------------------------------------- soak


@pytest.mark.slow
def test_soak_repeated_interruptions_end_identical(tmp_path):
    """Five interruptions at random batches (exceptions and KeyboardInterrupts, with and without
    a checkpointing location), each resumed from its checkpoint: the final net and histories
    equal an uninterrupted run's."""
    rounds = 8
    reference = train(rounds)
    total = reference["TotalBatches"]
    stops = sorted(RNG.choice(np.arange(2, total), size=5, replace=False))
    resume_from = None
    done = 0
    for k, stop in enumerate(stops):
        error = KeyboardInterrupt() if k % 2 else Stop(f"stop {k}")
        counter = {"batches": done}

        def callback(info, stop=stop, error=error, counter=counter):
            counter["batches"] += 1
            if counter["batches"] == stop:
                raise error

        location = ("Directory", tmp_path / f"run{k}") if k % 3 == 0 else None
        with pytest.raises(type(error)) as info:
            train(
                rounds,
                ResumeFrom=resume_from,
                TrainingProgressFunction=callback,
                TrainingProgressCheckpointing=location,
            )
        resume_from = checkpoint_path(str(info.value))
        done = stop
    final = train(rounds, ResumeFrom=resume_from)
    assert_resumed_equals(final, reference)
    assert done < total
    # and the final arrays are those of the reference net, as plain arrays too
    for key, value in arrays(reference["TrainedNet"]).items():
        np.testing.assert_array_equal(arrays(final["TrainedNet"])[key], value)
