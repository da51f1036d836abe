"""What the locate-then-edit editors (MEMIT, AlphaEdit, UltraEdit) share: the edited layers,
keys and values read from the model through forward hooks, the target residual found by
optimisation, the preserved-knowledge statistics over the train split's prompts (text and
image) and their on-disk cache.

Everything reaches the model through the adapter: `module_name(layer, "mlp.down")` is the edited
projection; its decoder layer is the longest dotted prefix it shares with `attn.q` of the same
layer. Activations may be [B, T, D] (real models) or [B, D] (one position per row)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import torch
from torch import nn
from tqdm.auto import tqdm

from contract import paths
from evaluator.editors.base import ConfigError, Editor, EditorConfig
from evaluator.editors.config_fields import field
from evaluator.editors.layers import LAYER_BOUNDS, LAYER_HELP, check_layer_spec, resolve_layer
from evaluator.editors.probes import IGNORE, answer_positions, edit_probe, last_prompt_positions
from evaluator.editors.training import model_mode, only_trainable, seed_everything
from evaluator.models.frozen_prefix import frozen_prefix_loss
from evaluator.models.probe import Probe

if TYPE_CHECKING:
    from evaluator.benchmark.case import Case, Edit
    from evaluator.models.adapter import VLMAdapter

# bump when the statistics' recipe changes, so that old caches are not reused
STATS_VERSION = 1
# layers 3-8 of GPT-J's 28 (MEMIT) as relative depth; 4-8 of Llama3-8B's 32 (AlphaEdit) is close
PAPER_LAYERS = (0.11, 0.15, 0.19, 0.22, 0.26, 0.3)
STATS_BATCH = 16


@dataclass(frozen=True)
class LocateConfig(EditorConfig):
    """Fields every locate-then-edit editor has."""

    layers: tuple[int | float, ...] = field(
        PAPER_LAYERS,
        "decoder layers whose MLP down-projection is edited (duplicates after rounding are "
        f"merged); each {LAYER_HELP}",
        max_items=256,
        **LAYER_BOUNDS,
    )
    batch_size: int = field(
        1,
        "edits solved together: each edit is applied when it arrives, and the update of the "
        "current batch is recomputed with all of its edits until it has batch_size of them",
        min=1,
        max=10_000,
    )
    stats_cases: int = field(
        4000,
        "train cases whose prompts (edit, text, image and multiple-choice locality; text and "
        "image) give the preserved-knowledge statistics; 0 = none",
        min=0,
        max=1_000_000,
    )

    def check(self) -> None:
        if not self.layers:
            raise ConfigError("field 'layers': empty; give at least one decoder layer")
        for spec in self.layers:
            check_layer_spec("layers", spec)

    def check_for_model(self, num_layers: int) -> None:
        for spec in self.layers:
            resolve_layer("layers", spec, num_layers)


@dataclass(frozen=True)
class ValueConfig(LocateConfig):
    """The target-residual optimisation of MEMIT and AlphaEdit (their compute_z)."""

    v_steps: int = field(25, "Adam steps on the residual shift per edit", min=1, max=1000)
    v_lr: float = field(
        0.5, "Adam learning rate of the residual shift", min=0, min_open=True, max=100
    )
    v_weight_decay: float = field(
        0.5, "weight of ||shift||^2 / ||residual||^2 in the shift's loss", min=0, max=1000
    )
    clamp_norm_factor: float = field(
        0.75,
        "the shift's norm is kept below this times the residual's norm",
        min=0,
        min_open=True,
        max=1000,
    )
    v_early_stop_loss: float = field(
        5e-2, "stop the shift's optimisation once the target's loss is below this", min=0, max=100
    )


def edited_layers(specs: Sequence[int | float], num_layers: int) -> list[int]:
    """The absolute indices of `specs`, ascending, without duplicates."""
    return sorted({resolve_layer("layers", spec, num_layers) for spec in specs})


def decoder_layer_name(adapter: VLMAdapter, layer: int) -> str:
    """The decoder layer holding `layer`'s projections: the longest dotted prefix shared by its
    MLP down-projection and its attention query projection."""
    down = adapter.module_name(layer, "mlp.down").split(".")
    query = adapter.module_name(layer, "attn.q").split(".")
    common: list[str] = []
    for a, b in zip(down, query, strict=False):
        if a != b:
            break
        common.append(a)
    if not common:
        raise ValueError(f"no decoder layer contains both {'.'.join(down)} and {'.'.join(query)}")
    return ".".join(common)


# positions of an activation


def _as_3d(tensor: torch.Tensor) -> torch.Tensor:
    """[B, D] activations (one position per row) as [B, 1, D]."""
    return tensor[:, None, :] if tensor.dim() == 2 else tensor


def _last_positions(adapter: VLMAdapter, hidden: torch.Tensor) -> torch.Tensor:
    batch, length = hidden.shape[:2]
    return last_prompt_positions(adapter.active_labels, batch, length).to(hidden.device)


def _token_mask(adapter: VLMAdapter, hidden: torch.Tensor, which: str) -> torch.Tensor:
    """[B, T] bool. `answer`: positions that predict an answer token; `valid`: every token up
    to the last answer token (right padding excluded); rows without labels: every position."""
    batch, length = hidden.shape[:2]
    labels = adapter.active_labels
    if labels is None or labels.shape != (batch, length):
        if which == "answer":
            mask = torch.zeros((batch, length), dtype=torch.bool)
            mask[:, -1] = True
            return mask.to(hidden.device)
        return torch.ones((batch, length), dtype=torch.bool, device=hidden.device)
    if which == "answer":
        return answer_positions(labels, batch, length).to(hidden.device)
    labelled = labels.detach().cpu() != IGNORE
    last = torch.where(
        labelled.any(dim=1),
        length - 1 - labelled.flip(dims=[1]).float().argmax(dim=1),
        torch.full((batch,), length - 1),
    )
    return (torch.arange(length)[None, :] <= last[:, None]).to(hidden.device)


def _output_tensor(output: object) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


# forward hooks


@contextlib.contextmanager
def forward_hooks(adapter: VLMAdapter, hooks: dict[str, Callable[..., Any]]) -> Iterator[None]:
    """Registers `hooks` (module name -> forward hook) for the block and removes them after."""
    handles = [adapter.get_module(name).register_forward_hook(fn) for name, fn in hooks.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def read_last(
    adapter: VLMAdapter, probe: Probe, inputs: Sequence[str], outputs: Sequence[str]
) -> dict[str, torch.Tensor]:
    """One no-grad forward pass of `probe` (with its answer teacher-forced): the inputs of the
    modules `inputs` and the outputs of the modules `outputs` at the last prompt position, each
    a float32 vector, by module name (an output's key gets the suffix ':out')."""
    got: dict[str, torch.Tensor] = {}

    def reader(key: str, use_input: bool) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple, output: object) -> None:
            hidden = _as_3d(args[0] if use_input else _output_tensor(output))
            pos = _last_positions(adapter, hidden)
            got[key] = hidden[0, pos[0]].detach().float()

        return hook

    hooks = {name: reader(name, True) for name in inputs}
    hooks |= {name: reader(f"{name}:out", False) for name in outputs if name not in inputs}
    with torch.no_grad(), model_mode(adapter.model, False), forward_hooks(adapter, hooks):
        adapter.loss([probe])
    return got


@contextlib.contextmanager
def shifted_last_position(adapter: VLMAdapter, name: str, shift: torch.Tensor) -> Iterator[None]:
    """Adds `shift` to module `name`'s output at every row's last prompt position."""

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        out = _as_3d(output)
        pos = _last_positions(adapter, out)
        rows = torch.arange(out.shape[0], device=out.device)
        place = torch.zeros(out.shape[:2], dtype=torch.bool, device=out.device)
        place[rows, pos] = True
        moved = out + place[..., None].to(out.dtype) * shift.to(out.dtype)
        return moved.view_as(output)

    with forward_hooks(adapter, {name: hook}):
        yield


def optimise_shift(
    adapter: VLMAdapter,
    probe: Probe,
    down_name: str,
    layer_name: str,
    config: ValueConfig,
    layer: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MEMIT's target value: a shift of the residual stream after the last edited layer, at the
    last prompt position, that makes the probe answer its target (Adam on the teacher-forced
    loss plus a norm penalty, its norm clamped). Returns (residual, shift), float32 vectors.
    With that layer's index `layer`, the steps run only from its down projection up (the rest
    once: evaluator.models.frozen_prefix), with the same result bit for bit."""
    residual = read_last(adapter, probe, [], [layer_name])[f"{layer_name}:out"]
    shift = torch.zeros_like(residual, requires_grad=True)
    optimizer = torch.optim.Adam([shift], lr=config.v_lr)
    limit = config.clamp_norm_factor * float(residual.norm())
    scale = max(float(residual.norm()) ** 2, 1e-12)
    with (
        only_trainable(adapter.model, []),
        model_mode(adapter.model, False),
        shifted_last_position(adapter, down_name, shift),
        frozen_prefix_loss(adapter, [probe], layer, [adapter.get_module(down_name)]) as step_loss,
    ):
        for _ in range(config.v_steps):
            optimizer.zero_grad(set_to_none=True)
            nll = step_loss()
            if nll.item() < config.v_early_stop_loss:
                break
            loss = nll + config.v_weight_decay * shift.pow(2).sum() / scale
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                norm = float(shift.norm())
                if norm > limit:
                    shift.mul_(limit / norm)
    return residual, shift.detach()


# preserved-knowledge statistics over the train split


def train_probes(cases: Sequence[Case], count: int) -> list[Probe]:
    """The prompts of the first `count` train cases, each with its correct answer: the edit
    prompt (images, question, options), the text locality question, the image locality
    question and the multiple-choice locality question."""
    probes = []
    for index in range(min(count, len(cases))):
        case = cases[index]
        probes += [
            Probe(case.images, case.question, case.answer, case.options),
            Probe((), case.loc_question, case.loc_answer),
            Probe(case.m_loc_images, case.m_loc_question, case.m_loc_answer),
            Probe(
                case.mc_loc_images, case.mc_loc_question, case.mc_loc_answer, case.mc_loc_options
            ),
        ]
    return probes


def probes_digest(probes: Sequence[Probe]) -> str:
    """sha256 over the probes' text, options, answers and image pixels, in order."""
    digest = hashlib.sha256()
    for probe in probes:
        text = json.dumps([probe.prefix, probe.question, probe.answer, probe.options or {}])
        digest.update(text.encode())
        for image in probe.images:
            rgb = image.convert("RGB")
            digest.update(f"{rgb.size}".encode())
            digest.update(rgb.tobytes())
    return digest.hexdigest()


def _batches(probes: Sequence[Probe]) -> list[list[Probe]]:
    """Probes grouped by image count (one forward pass per batch), STATS_BATCH at a time."""
    ordered = sorted(probes, key=lambda p: len(p.images))
    out: list[list[Probe]] = []
    for probe in ordered:
        if out and len(out[-1]) < STATS_BATCH and len(out[-1][0].images) == len(probe.images):
            out[-1].append(probe)
        else:
            out.append([probe])
    return out


def key_second_moments(
    adapter: VLMAdapter, names: Sequence[str], probes: Sequence[Probe], desc: str
) -> dict[str, torch.Tensor]:
    """Per module, the mean of k k^T over every token (text and image) of `probes`, where k is
    the module's input (float64, [D, D]); also `<name>:count`, the tokens seen."""
    sums: dict[str, torch.Tensor] = {}
    counts = dict.fromkeys(names, 0)

    def reader(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple, output: object) -> None:
            hidden = _as_3d(args[0])
            keys = hidden[_token_mask(adapter, hidden, "valid")].double()
            sums[name] = sums.get(name, 0) + keys.T @ keys
            counts[name] += keys.shape[0]

        return hook

    with (
        torch.no_grad(),
        model_mode(adapter.model, False),
        forward_hooks(adapter, {n: reader(n) for n in names}),
        tqdm(total=len(probes), desc=desc, unit="prompt", disable=None) as bar,
    ):
        for batch in _batches(probes):
            adapter.loss(batch)
            bar.update(len(batch))
    out = {}
    for name in names:
        out[name] = (sums[name] / max(counts[name], 1)).cpu()
        out[f"{name}:count"] = torch.tensor(counts[name])
    return out


def _moments(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rows = rows.double()
    return torch.tensor(float(rows.shape[0])), rows.sum(dim=0), rows.pow(2).sum(dim=0)


@contextlib.contextmanager
def gradient_taps(adapter: VLMAdapter, names: Sequence[str]) -> Iterator[dict[str, list]]:
    """While active, every forward pass of the modules `names` records (keys, offset, mask):
    the module's input, a zero tensor added to its output whose gradient is the output's
    gradient, and the positions that predict answer tokens."""
    taps: dict[str, list] = {name: [] for name in names}

    def tap(name: str) -> Callable[..., torch.Tensor]:
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
            out = _as_3d(output)
            offset = torch.zeros_like(out, requires_grad=True)
            mask = _token_mask(adapter, out, "answer")
            taps[name].append((_as_3d(args[0]).detach(), offset, mask))
            return (out + offset).view_as(output)

        return hook

    with forward_hooks(adapter, {n: tap(n) for n in names}):
        yield taps


def keys_and_gradients(
    adapter: VLMAdapter, names: Sequence[str], probes: Sequence[Probe]
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """One forward and backward pass of the summed answer loss of `probes`: per module, the keys
    (inputs) and the gradients of the loss with respect to the outputs, at the positions that
    predict answer tokens (float32, [N, D_in] and [N, D_out])."""
    with (
        only_trainable(adapter.model, []),
        model_mode(adapter.model, False),
        gradient_taps(adapter, names) as taps,
    ):
        loss = adapter.loss(list(probes))
        tapped = [offset for name in names for _, offset, _ in taps[name]]
        tokens = sum(int(mask.sum()) for _, _, mask in taps[names[0]])
        grads = torch.autograd.grad(loss * max(tokens, 1), tapped)
    out, index = {}, 0
    for name in names:
        keys, gradients = [], []
        for key, _, mask in taps[name]:
            keys.append(key[mask].float())
            gradients.append(grads[index][mask].float())
            index += 1
        out[name] = (torch.cat(keys), torch.cat(gradients))
    return out


def feature_moments(
    adapter: VLMAdapter, names: Sequence[str], probes: Sequence[Probe], desc: str
) -> dict[str, torch.Tensor]:
    """Per module, the count, sum and sum of squares of the keys (`<name>:k_*`) and of the
    output gradients (`<name>:g_*`) at the answer positions of `probes` (float64)."""
    out: dict[str, torch.Tensor] = {}
    with tqdm(total=len(probes), desc=desc, unit="prompt", disable=None) as bar:
        for batch in _batches(probes):
            for name, (keys, grads) in keys_and_gradients(adapter, names, batch).items():
                for kind, rows in (("k", keys), ("g", grads)):
                    for part, value in zip(("n", "sum", "sq"), _moments(rows), strict=True):
                        slot = f"{name}:{kind}_{part}"
                        out[slot] = out.get(slot, 0) + value.cpu()
            bar.update(len(batch))
    return out


# the on-disk cache


def stats_cache_dir(adapter: VLMAdapter, kind: str, key: dict[str, Any]) -> Path | None:
    """The cache folder for statistics `kind` under MME_HOME/editor-stats, named by a hash of
    the model id and revision and `key` (layers, train prompts' sha256, recipe); None when the
    adapter has no revision to key on."""
    revision = str(getattr(adapter, "revision", "") or "")
    if not revision:
        return None
    model_id = str(getattr(adapter, "model_id", "") or "")
    identity = {"model": model_id, "revision": revision, "kind": kind, "version": STATS_VERSION}
    text = json.dumps({**identity, **key}, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return paths.home() / "editor-stats" / kind / digest


def cached_stats(
    adapter: VLMAdapter,
    kind: str,
    key: dict[str, Any],
    compute: Callable[[], dict[str, torch.Tensor]],
) -> tuple[dict[str, torch.Tensor], float, bool]:
    """The statistics `kind` for `key`: loaded from the cache, or computed and stored. Returns
    (tensors, seconds the computation took, whether they came from the cache)."""
    folder = stats_cache_dir(adapter, kind, key)
    if folder is not None and (folder / "stats.pt").is_file():
        meta = json.loads((folder / "meta.json").read_text())
        return torch.load(folder / "stats.pt", weights_only=True), float(meta["seconds"]), True
    started = time.perf_counter()
    tensors = compute()
    seconds = time.perf_counter() - started
    if folder is not None:
        meta = {
            "model": str(getattr(adapter, "model_id", "")),
            "revision": str(adapter.revision),
            "kind": kind,
            "version": STATS_VERSION,
            "seconds": seconds,
            **key,
        }
        _write_atomic(folder / "stats.pt", lambda f: torch.save(tensors, f))
        _write_atomic(folder / "meta.json", lambda f: f.write(json.dumps(meta, indent=2).encode()))
    return tensors, seconds, False


def _write_atomic(path: Path, write: Callable[[Any], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# the weights


def add_to_weight(adapter: VLMAdapter, name: str, delta: torch.Tensor) -> None:
    """In place: module `name`'s weight += delta (cast to the weight's dtype and device)."""
    weight = adapter.get_module(name).weight
    with torch.no_grad():
        weight.add_(delta.to(device=weight.device, dtype=weight.dtype))


def weight_of(adapter: VLMAdapter, name: str) -> torch.Tensor:
    """A detached copy of module `name`'s weight."""
    return adapter.get_module(name).weight.detach().clone()


def set_weight(adapter: VLMAdapter, name: str, value: torch.Tensor) -> None:
    with torch.no_grad():
        adapter.get_module(name).weight.copy_(value)


# the editor skeleton: statistics at set-up, edits applied as they arrive, batches re-solved

# what `prepare` computes per edit and `update` solves a batch of (each editor its own)
PreparedT = TypeVar("PreparedT")


class LocateEditor(Editor, Generic[PreparedT]):
    """Base of MEMIT, AlphaEdit and UltraEdit. `setup` resolves the layers and loads or computes
    the statistics (`setup_seconds`); `apply` prepares the edit's data on the weights from
    before its batch (`prepare`), then writes the update of the whole current batch (`update`).
    With batch_size 1 every edit is its own batch. `reset` forgets the edits (the protocol
    restores the weights from its snapshot of `touched_modules()`)."""

    config: LocateConfig
    stats_kind: ClassVar[str] = ""

    def setup(self) -> None:
        self.layers = edited_layers(self.config.layers, self.adapter.num_layers)
        self.down_names = [self.adapter.module_name(i, "mlp.down") for i in self.layers]
        self.top_name = decoder_layer_name(self.adapter, self.layers[-1])
        self.stats: dict[str, torch.Tensor] = {}
        self.setup_seconds = 0.0
        self.stats_cached = False
        probes = train_probes(self.train_cases, self.config.stats_cases)
        if probes:
            key = {
                "modules": self.down_names,
                "train_prompts": len(probes),
                "train_sha256": probes_digest(probes),
            }
            self.stats, self.setup_seconds, self.stats_cached = cached_stats(
                self.adapter, self.stats_kind, key, lambda: self.compute_stats(probes)
            )
            self.stats_key = key
        self.forget()

    def touched_modules(self) -> list[str]:
        return list(self.down_names)

    def on_device(
        self, key: str, device: torch.device, make: Callable[[], torch.Tensor]
    ) -> torch.Tensor:
        """`make()` moved to `device` once and kept (statistics are read at every edit)."""
        cache: dict[tuple[str, str], torch.Tensor] = self.__dict__.setdefault("_on_device", {})
        slot = (key, str(device))
        if slot not in cache:
            cache[slot] = make().to(device)
        return cache[slot]

    def compute_stats(self, probes: Sequence[Probe]) -> dict[str, torch.Tensor]:
        """The preserved-knowledge statistics over `probes` (cached by the caller)."""
        raise NotImplementedError

    def forget(self) -> None:
        """Drop every edit (the batch, accumulated keys, running statistics)."""
        self.batch: list[PreparedT] = []
        self.before_batch: dict[str, torch.Tensor] = {}

    @abstractmethod
    def prepare(self, edit: Edit) -> PreparedT:
        """Per-edit data computed on the weights from before the current batch."""

    @abstractmethod
    def update(self, batch: Sequence[PreparedT]) -> None:
        """Write the update that makes every edit of `batch` hold, from the pre-batch weights."""

    def close_batch(self) -> None:  # noqa: B027 - only AlphaEdit keeps anything from a batch
        """Called when a full batch is followed by a new edit."""

    def apply(self, edit: Edit) -> None:
        seed_everything(self.seed)
        if len(self.batch) >= self.config.batch_size:
            self.close_batch()
            self.batch, self.before_batch = [], {}
        if self.config.batch_size > 1 and not self.batch:
            self.before_batch = {n: weight_of(self.adapter, n) for n in self.down_names}
        for name, weight in self.before_batch.items():
            set_weight(self.adapter, name, weight)
        self.batch.append(self.prepare(edit))
        self.update(self.batch)

    def reset(self) -> None:
        self.forget()


@dataclass(frozen=True)
class PreparedEdit:
    """An edit's probe and its target residual after the last edited layer."""

    probe: Probe
    target: torch.Tensor  # [D_model], float32


class ShiftEditor(LocateEditor[PreparedEdit]):
    """MEMIT and AlphaEdit: a target residual per edit (`optimise_shift`), then MEMIT's layer
    loop: for each edited layer, lowest first, read the keys (the down-projection's input at the
    last prompt position) and the current residual after the last edited layer, and add
    `solve(index, name, keys, gap / layers_left)` to the layer's weight."""

    config: ValueConfig

    @abstractmethod
    def solve(self, index: int, name: str, keys: torch.Tensor, gap: torch.Tensor) -> torch.Tensor:
        """The [D_out, D_in] change of layer `name` for `keys` [N, D_in] and `gap` [N, D_out]."""

    def prepare(self, edit: Edit) -> PreparedEdit:
        probe = edit_probe(edit)
        residual, shift = optimise_shift(
            self.adapter, probe, self.down_names[-1], self.top_name, self.config, self.layers[-1]
        )
        return PreparedEdit(probe=probe, target=residual + shift)

    def update(self, batch: Sequence[PreparedEdit]) -> None:
        targets = torch.stack([e.target for e in batch])
        for index, name in enumerate(self.down_names):
            reads = [read_last(self.adapter, e.probe, [name], [self.top_name]) for e in batch]
            keys = torch.stack([r[name] for r in reads])
            current = torch.stack([r[f"{self.top_name}:out"] for r in reads])
            gap = (targets - current) / (len(self.down_names) - index)
            add_to_weight(self.adapter, name, self.solve(index, name, keys, gap))
