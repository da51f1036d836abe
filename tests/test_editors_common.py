"""Behaviour every editor shares, checked on a toy model behind the adapter interface: config
errors, exact restoration after reset, frozen vision tower, restored requires_grad, eval mode,
seeding, and lifelong sequences. The toy adapter here is also used by the per-editor test files.

Every registered editor is checked: the built-ins and every installed plugin (entry point group
multimededit.editors), so `pytest tests/test_editors_common.py -k <name>` runs the contract
tests against a plugin (docs/editors.md, "Add your editor"). The quality checks (an edit takes,
twenty edits in a row keep working) use the settings in FAST and LIFELONG and run on the
built-in editors; the contract checks run on all."""

from __future__ import annotations

import contextlib
import hashlib
import zlib
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from evaluator.benchmark.case import Case
from evaluator.editors.base import ConfigError, Editor
from evaluator.editors.registry import (
    EDITORS,
    PLUGINS,
    editor_names,
    get_editor,
    parse_editor_config,
)
from evaluator.models.probe import Probe, ProbeScore

IGNORE = -100
VOCAB, HIDDEN, INTERMEDIATE, LAYERS = 96, 32, 64, 4
LETTERS = "ABCDEFGH"
PROJECTIONS = {
    "mlp.up": "mlp.up_proj",
    "mlp.gate": "mlp.gate_proj",
    "mlp.down": "mlp.down_proj",
    "attn.q": "self_attn.q_proj",
    "attn.k": "self_attn.k_proj",
    "attn.v": "self_attn.v_proj",
    "attn.o": "self_attn.o_proj",
}
# fast settings for the toy model; every other field keeps its default
FAST = {
    "ike": {},
    "ft": {"steps": 40, "lr": 0.05, "norm_constraint": 0.5},
    "lora": {"steps": 40, "lr": 0.05},
    "grace": {"n_iter": 40, "eps": 0.05, "eps_scale": "absolute"},
    "wise": {
        "n_iter": 40,
        "edit_lr": 20.0,
        "alpha": 0.5,
        "beta": 2.0,
        "gamma": 1.0,
        "save_freq": 5,
        "merge_freq": 10,
    },
    "mend": {"train_steps": 400, "rank": 64, "edit_lr": 0.01, "lr": 1e-3, "lr_lr": 1e-3},
    "serac": {"cf_steps": 300, "cf_lr": 3e-3, "classifier_steps": 100, "classifier_batch": 8},
    "memoir": {"n_iter": 30, "edit_lr": 20.0},
    "memit": {},
    "alphaedit": {"l2": 0.01},  # the toy's edit keys lie mostly in the preserved keys' span
    "ultraedit": {"edit_lr": 1.0},  # one step must flip the toy's answer
}

# fewer, larger steps for the twenty-edit sequences
LIFELONG = {
    "ft": {"steps": 15, "lr": 0.1},
    "lora": {"steps": 10, "lr": 0.1, "layers": [-2, -1]},
    "grace": {"n_iter": 15},
    "wise": {"n_iter": 15, "edit_lr": 40.0},
    "mend": {},
    "serac": {},
    "memoir": {"n_iter": 15},
    "memit": {"v_steps": 8, "v_lr": 1.0},
    "alphaedit": {"v_steps": 8, "v_lr": 1.0},
}
# learned editors train once per session on this toy train split (a shared MME_HOME store)
LEARNED = ("mend", "serac")


def word_id(word: str) -> int:
    return 10 + zlib.crc32(word.lower().encode()) % (VOCAB - 10)


def tokenize(text: str) -> list[int]:
    return [word_id(w) for w in text.split()]


def answer_tokens(answer: str) -> list[int]:
    return [1 + LETTERS.index(answer)] if answer in LETTERS else tokenize(answer)


def image_features(image: Image.Image) -> torch.Tensor:
    pixels = np.asarray(image.convert("L").resize((4, 4)), dtype=np.float32) / 255.0
    return torch.from_numpy(pixels).flatten()


class ToyAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q_proj, self.k_proj = nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, HIDDEN)
        self.v_proj, self.o_proj = nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, HIDDEN)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        q, k, v = self.q_proj(h), self.k_proj(h), self.v_proj(h)
        return self.o_proj(F.scaled_dot_product_attention(q, k, v, is_causal=True))


class ToyMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(HIDDEN, INTERMEDIATE, bias=False)
        self.up_proj = nn.Linear(HIDDEN, INTERMEDIATE, bias=False)
        self.down_proj = nn.Linear(INTERMEDIATE, HIDDEN, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class ToyLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(HIDDEN), nn.LayerNorm(HIDDEN)
        self.self_attn, self.mlp = ToyAttention(), ToyMLP()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.self_attn(self.norm1(h))
        return h + self.mlp(self.norm2(h))


class ToyVLM(nn.Module):
    """A four-layer decoder with a linear 'vision tower' over 4x4 grey thumbnails."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Module()
        self.model.vision_tower = nn.Linear(16, HIDDEN)
        self.model.embed_tokens = nn.Embedding(VOCAB, HIDDEN)
        self.model.language_model = nn.Module()
        self.model.language_model.layers = nn.ModuleList(ToyLayer() for _ in range(LAYERS))
        self.model.norm = nn.LayerNorm(HIDDEN)
        self.model.register_buffer("position_scale", torch.linspace(0, 1, 64)[:, None])
        self.lm_head = nn.Linear(HIDDEN, VOCAB, bias=False)

    def forward(self, input_ids, features, image_mask):
        h = self.model.embed_tokens(input_ids)
        h = torch.where(image_mask[..., None], self.model.vision_tower(features), h)
        h = h + self.model.position_scale[: h.shape[1]]
        for layer in self.model.language_model.layers:
            h = layer(h)
        return self.lm_head(self.model.norm(h))


class ToyAdapter:
    """The VLMAdapter surface the editors use (docs/architecture.md), over ToyVLM."""

    def __init__(self, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.model = ToyVLM().eval()
        self.num_layers = LAYERS
        self.active_labels: torch.Tensor | None = None
        self.family = "toy"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, probes: Sequence[Probe]) -> dict[str, torch.Tensor]:
        rows = []
        for p in probes:
            text = tokenize(p.prefix) + [0] * len(p.images) + tokenize(p.question)
            if p.options:
                text += tokenize(" ".join(f"{k} {v}" for k, v in p.options.items()))
            feats = [torch.zeros(16)] * len(tokenize(p.prefix))
            feats += [image_features(im) for im in p.images]
            feats += [torch.zeros(16)] * (len(text) - len(feats))
            rows.append((text, answer_tokens(p.answer), feats, len(tokenize(p.prefix))))
        width = max(len(t) + len(a) for t, a, _, _ in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        features = torch.zeros((len(rows), width, 16))
        image_mask = torch.zeros((len(rows), width), dtype=torch.bool)
        for i, (text, answer, feats, start) in enumerate(rows):
            n = len(text)
            ids[i, : n + len(answer)] = torch.tensor(text + answer)
            labels[i, n : n + len(answer)] = torch.tensor(answer)
            features[i, :n] = torch.stack(feats)
            image_mask[i, start : start + sum(1 for t in text[start:] if t == 0)] = True
        return {"input_ids": ids, "features": features, "image_mask": image_mask, "labels": labels}

    @contextlib.contextmanager
    def _active(self, labels: torch.Tensor) -> Iterator[None]:
        self.active_labels = labels
        try:
            yield
        finally:
            self.active_labels = None

    def _answer_logits(self, probes: Sequence[Probe]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = {k: v.to(self.device) for k, v in self.encode(probes).items()}
        labels = batch.pop("labels")
        with self._active(labels):
            logits = self.model(**batch)
        rows, cols = (labels != IGNORE).nonzero(as_tuple=True)
        return logits[rows, cols - 1], labels[rows, cols]

    def loss(self, probes: Sequence[Probe]) -> torch.Tensor:
        logits, targets = self._answer_logits(probes)
        return F.cross_entropy(logits, targets)

    def answer_logits(self, probes: Sequence[Probe]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        yield self._answer_logits(probes)

    def score(self, probes: Sequence[Probe], batch_size: int = 16) -> list[ProbeScore]:
        was = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                logits, targets = self._answer_logits(probes)
        finally:
            self.model.train(was)
        scores, start = [], 0
        for p in probes:
            n = len(answer_tokens(p.answer))
            answer = tuple(targets[start : start + n].tolist())
            guess = tuple(logits[start : start + n].argmax(-1).tolist())
            hits = sum(a == g for a, g in zip(answer, guess, strict=True))
            scores.append(ProbeScore(answer, guess, hits / n, hits == n))
            start += n
        return scores

    def module_name(self, layer: int, kind: str) -> str:
        return f"model.language_model.layers.{layer % LAYERS}.{PROJECTIONS[kind]}"

    def get_module(self, name: str) -> nn.Module:
        return self.model.get_submodule(name)

    def set_module(self, name: str, module: nn.Module) -> None:
        parent, _, child = name.rpartition(".")
        setattr(self.model.get_submodule(parent), child, module)

    def vision_module_prefixes(self) -> list[str]:
        return ["model.vision_tower"]


def random_image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))


QUESTIONS = [
    "which organ is shown in this scan",
    "what abnormality is visible in the lesion",
    "which imaging modality produced this picture",
    "what tissue type appears in the slide",
    "is the finding benign or malignant here",
]


def make_case(i: int, target: str = "B", answer: str = "A") -> Case:
    """A toy edit case; its question, images and locality prompts vary with `i`."""
    question = f"{QUESTIONS[i % len(QUESTIONS)]} case {i}"
    return Case(
        case_id=f"c{i}",
        task="understanding",
        question_type="organ",
        images=(random_image(i),),
        question=question,
        options={"A": "liver", "B": "lung", "C": "kidney", "D": "heart"},
        answer=answer,
        target=target,
        rephrase_question=question.replace("which", "tell me which"),
        rephrase_images=(random_image(1000 + i),),
        loc_question=f"who wrote the novel number {i}",
        loc_answer="tolstoy",
        m_loc_images=(random_image(2000 + i),),
        m_loc_question=f"what colour is the car number {i}",
        m_loc_answer="red",
        source="toy",
        rephrase_options={"A": "heart", "B": "liver", "C": "lung", "D": "kidney"},
        mc_loc_images=(random_image(3000 + i),),
        mc_loc_question=f"which side is the marker on in picture {i}",
        mc_loc_options={"A": "left", "B": "right"},
        mc_loc_answer="A",
    )


def case_probe(case: Case, target: str | None = None) -> Probe:
    return Probe(case.images, case.question, target or case.target, case.options)


def wrong_target(adapter: ToyAdapter, case: Case) -> Case:
    """The case with its target set to a letter the unedited model does not predict."""
    for letter in "ABCD":
        candidate = Case(**{**case.__dict__, "target": letter})
        if not adapter.score([case_probe(candidate)])[0].exact_match:
            return candidate
    raise AssertionError("the toy model predicts every letter at once")


def state_hashes(model: nn.Module) -> dict[str, str]:
    return {
        name: hashlib.sha256(t.detach().cpu().numpy().tobytes()).hexdigest()
        for name, t in [*model.named_parameters(), *model.named_buffers()]
    }


def module_tree(model: nn.Module) -> list[tuple[str, str]]:
    return [(name, type(m).__name__) for name, m in model.named_modules()]


def make_editor(name: str, adapter: ToyAdapter, train: Sequence[Case] = (), **overrides) -> Editor:
    if name in LEARNED:
        train = TOY_TRAIN
    return make_editor_from(name, adapter, train, {**FAST.get(name, {}), **overrides})


def make_editor_from(name: str, adapter, train: Sequence[Case], config: dict) -> Editor:
    """Parse and check `config` for the adapter's model, then build the editor (seed 0)."""
    parsed = parse_editor_config(name, config)
    parsed.check_for_model(adapter.num_layers)
    return get_editor(name)(adapter, parsed, train_cases=train, seed=0)


def edited_score(editor: Editor, probe: Probe) -> ProbeScore:
    return editor.adapter.score([editor.transform_probe(probe)])[0]


def registered_editors() -> list[str]:
    """The built-in editors (defined under evaluator.editors) and the installed plugins; the
    editors that test modules register (tests/planted_editors.py) are not among them."""
    return [
        name
        for name in editor_names()
        if name in PLUGINS or EDITORS[name].__module__.startswith("evaluator.editors.")
    ]


# editors that never change a weight or add a module: in-context editing
PROMPT_EDITORS = ["ike"]
ALL_EDITORS = registered_editors()
WEIGHT_EDITORS = [name for name in ALL_EDITORS if name not in PROMPT_EDITORS]
# the quality checks need settings known to edit the toy model: the editors in FAST
QUALITY_EDITORS = [name for name in WEIGHT_EDITORS if name in FAST]
TOY_TRAIN = [make_case(900 + i) for i in range(20)]


@pytest.fixture(scope="session")
def learned_editor_home(tmp_path_factory: pytest.TempPathFactory):
    """One store of trained editors for the session: each toy config trains once."""
    return tmp_path_factory.mktemp("mme-home")


@pytest.fixture(autouse=True)
def trained_editors_in_tmp(monkeypatch: pytest.MonkeyPatch, learned_editor_home) -> None:
    """Learned editors store what they train under MME_HOME; never the checkout's data/."""
    monkeypatch.setenv("MME_HOME", str(learned_editor_home))


@pytest.fixture(autouse=True)
def single_thread_torch() -> Iterator[None]:
    """The toy model's ops are tiny: one thread avoids contention on shared CI cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def adapter() -> ToyAdapter:
    return ToyAdapter()


def test_every_built_in_editor_is_checked():
    assert {"ike", "ft", "lora", "grace", "wise", "memit", "alphaedit", "ultraedit"} <= set(
        ALL_EDITORS
    )
    assert set(QUALITY_EDITORS) >= {"ft", "lora", "grace", "wise", "memit", "alphaedit"}
    assert not [name for name in ALL_EDITORS if name.startswith("planted-")]


@pytest.mark.parametrize("name", QUALITY_EDITORS)
def test_edit_makes_a_wrong_target_the_argmax(name, adapter):
    case = wrong_target(adapter, make_case(0))
    editor = make_editor(name, adapter, train=[make_case(50 + i) for i in range(3)])
    editor.apply(case.edit())
    assert edited_score(editor, case_probe(case)).exact_match
    editor.reset()


@pytest.mark.parametrize("name", ALL_EDITORS)
def test_reset_and_snapshot_restore_every_parameter_buffer_and_the_module_tree(name, adapter):
    before_hashes, before_tree = state_hashes(adapter.model), module_tree(adapter.model)
    before_flags = {n: p.requires_grad for n, p in adapter.model.named_parameters()}
    editor = make_editor(name, adapter)
    snapshot = {
        n: {k: v.clone() for k, v in adapter.get_module(n).state_dict().items()}
        for n in editor.touched_modules()
    }
    editor.apply(wrong_target(adapter, make_case(0)).edit())
    editor.reset()
    for n, state in snapshot.items():
        adapter.get_module(n).load_state_dict(state)
    assert module_tree(adapter.model) == before_tree
    assert state_hashes(adapter.model) == before_hashes
    assert {n: p.requires_grad for n, p in adapter.model.named_parameters()} == before_flags
    assert not hasattr(adapter.model, "peft_config")


@pytest.mark.parametrize("name", WEIGHT_EDITORS)
def test_apply_changes_only_touched_modules_and_never_the_vision_tower(name, adapter):
    before = state_hashes(adapter.model)
    editor = make_editor(name, adapter)
    editor.apply(wrong_target(adapter, make_case(0)).edit())
    touched = tuple(editor.touched_modules())
    editor.reset()
    after = state_hashes(adapter.model)
    changed = [n for n in before if before[n] != after[n]]
    assert all(n.startswith(touched) for n in changed) if touched else changed == []
    assert not any(n.startswith("model.vision_tower") for n in changed)


@pytest.mark.parametrize("name", WEIGHT_EDITORS)
def test_same_seed_gives_identical_edited_outputs(name):
    outputs = []
    for _ in range(2):
        adapter = ToyAdapter()
        editor = make_editor(name, adapter, train=[make_case(60)])
        case = wrong_target(adapter, make_case(1))
        editor.apply(case.edit())
        with torch.no_grad():
            batch = adapter.encode([editor.transform_probe(case_probe(case))])
            batch.pop("labels")
            outputs.append(adapter.model(**batch))
        editor.reset()
    assert torch.equal(outputs[0], outputs[1])


@pytest.mark.parametrize("name", QUALITY_EDITORS)
def test_lifelong_twenty_edits_keep_working(name, adapter):
    editor = make_editor(
        name, adapter, train=[make_case(70 + i) for i in range(3)], **LIFELONG.get(name, {})
    )
    cases = [wrong_target(adapter, make_case(i)) for i in range(20)]
    for case in cases:
        editor.apply(case.edit())
    hits = [edited_score(editor, case_probe(c)).exact_match for c in cases]
    editor.reset()
    assert sum(hits) >= (10 if name in ("ft", "mend") else 16)


@pytest.mark.parametrize(
    ("name", "config", "field"),
    [
        ("ft", {"stepz": 3}, "stepz"),
        ("ft", {"steps": "many"}, "steps"),
        ("ft", {"lr": -1.0}, "lr"),
        ("ft", {"layer": 1.5}, "layer"),
        ("lora", {"variant": "dora"}, "variant"),
        ("lora", {"modules": ["mlp.sideways"]}, "modules"),
        ("lora", {"dropout": 2.0}, "dropout"),
        ("grace", {"eps": 0}, "eps"),
        ("grace", {"replacement": "replace_some"}, "replacement"),
        ("wise", {"mask_ratio": 0.0}, "mask_ratio"),
        ("wise", {"save_freq": 3, "merge_freq": 10}, "merge_freq"),
        ("ike", {"max_facts": 0}, "max_facts"),
        ("mend", {"layers": []}, "layers"),
        ("mend", {"rank": 0}, "rank"),
        ("serac", {"threshold": 1.5}, "threshold"),
        ("serac", {"cf_layers": 0}, "cf_layers"),
        ("memoir", {"top_k_ratio": 0.0}, "top_k_ratio"),
        ("memoir", {"read_mask": "nearest"}, "read_mask"),
    ],
)
def test_bad_config_raises_config_error_naming_the_field(name, config, field):
    with pytest.raises(ConfigError, match=field):
        parse_editor_config(name, config)


@pytest.mark.parametrize(
    ("name", "config"),
    [("ft", {"layer": 4}), ("ft", {"layer": -5}), ("grace", {"layer": 9}), ("wise", {"layer": 7}),
     ("lora", {"layers": [0, 4]}), ("mend", {"layers": [0, 4]}), ("memoir", {"layer": 9}),
     ("serac", {"classifier_layer": -5})],
)  # fmt: skip
def test_layer_the_model_lacks_is_rejected_before_any_work(name, config, adapter):
    parsed = parse_editor_config(name, config)
    with pytest.raises(ConfigError, match="layer"):
        parsed.check_for_model(adapter.num_layers)


def test_relative_and_negative_layers_resolve_to_existing_layers():
    from evaluator.editors.layers import resolve_layer

    assert resolve_layer("layer", 0.75, 5) == 3
    assert resolve_layer("layer", 1.0, 4) == 3
    assert resolve_layer("layer", -1, 4) == 3
    assert resolve_layer("layer", 2, 4) == 2


def test_every_editor_describes_its_fields_with_help():
    for name in ALL_EDITORS:
        fields = get_editor(name).config_class.describe()
        assert fields and all(f["help"] for f in fields), name


@pytest.mark.parametrize("name", ALL_EDITORS)
def test_unknown_fields_and_out_of_range_values_raise_config_error_naming_the_field(name):
    with pytest.raises(ConfigError, match="no_such_field"):
        parse_editor_config(name, {"no_such_field": 1})
    for f in get_editor(name).config_class.describe():
        if f.get("max") is None or f["type"] in ("bool",):
            continue
        too_big = f["max"] + 1 if f["type"] == "int" else float(f["max"]) * 2 + 1
        value = [too_big] if f["type"].startswith("tuple") else too_big
        with pytest.raises(ConfigError, match=f["name"]):
            parse_editor_config(name, {f["name"]: value})


@pytest.mark.parametrize("name", ALL_EDITORS)
def test_apply_leaves_every_module_in_eval_mode_and_scoring_sees_eval_mode(name, adapter):
    editor = make_editor(name, adapter, train=[make_case(80)])
    modes: list[bool] = []
    handle = adapter.model.register_forward_pre_hook(lambda m, a: modes.append(m.training))
    editor.apply(wrong_target(adapter, make_case(2)).edit())
    assert not any(m.training for m in adapter.model.modules())
    modes.clear()
    edited_score(editor, case_probe(make_case(2)))
    handle.remove()
    editor.reset()
    assert modes and not any(modes)
