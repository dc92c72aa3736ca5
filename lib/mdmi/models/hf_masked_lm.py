"""Any Hugging Face ``transformers`` masked LM as a masked model (the protocol of :mod:`mdmi.core.protocol`).

The core sees ids over an ``alphabet`` of letters: ``0..len(alphabet)-1`` the letters in that order,
``len(alphabet)`` the mask and ``len(alphabet) + 1`` right padding (never masked, never attended to).
The adapter adds the model's own start and end tokens (BOS/[CLS], EOS/[SEP]) when its vocabulary has
them, maps ids to the model's vocabulary and back, and returns the logits of the alphabet's letters
only (a model's special and rare tokens can never be decoded) with the hidden states of one layer.

Loading (:func:`load_hf_masked_lm`) never unpickles: weights come from ``model.safetensors`` or from
a PyTorch ``.bin`` state dict read with ``torch.load(weights_only=True)``; the architecture from the
folder's ``config.json`` (``AutoModelForMaskedLM.from_config``: BERT, ESM-2, RoBERTa, ...); the
vocabulary from a ``vocab.txt`` (one token per line, as BERT and ESM write it) or the folder's
tokenizer. ``source`` is a local folder, or a hub id (``facebook/esm2_t6_8M_UR50D``) fetched once by
``huggingface_hub`` (works offline from a populated cache with ``HF_HUB_OFFLINE=1``). A ``sha256``
pins the weight file: a mismatch is an error, never a silent different model.

    net = load_hf_masked_lm("facebook/esm2_t33_650M_UR50D", "ACDEFGHIKLMNPQRSTVWY")
    logits, hidden = net(tokens)        # tokens[B, L] -> logits[B, L, 20], hidden[B, L, D]
"""

from __future__ import annotations

import importlib.util
import logging
import pickle
from pathlib import Path

import torch
from torch import nn

from mdmi.errors import MdmiError, UsageError
from mdmi.util.io import file_sha256

log = logging.getLogger(__name__)

# token names of the special roles, in the spellings BERT- and ESM-style vocabularies use
SPECIAL = {
    "mask": ("[MASK]", "<mask>"),
    "pad": ("[PAD]", "<pad>"),
    "bos": ("[CLS]", "<cls>", "<s>"),
    "eos": ("[SEP]", "<eos>", "</s>"),
}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class HFModelError(MdmiError, ValueError):
    """A model folder that cannot be used: no weights, weights of another model, a checksum mismatch,
    or a vocabulary that lacks a letter of the alphabet or a mask token."""


class HFMaskedLM(nn.Module):
    """forward(tokens[B, L]) -> (logits[B, L, len(alphabet)], hidden[B, L, D]) around a masked LM.

    lm: a ``transformers`` ``*ForMaskedLM`` module; vocab: token -> id of its vocabulary;
    hidden_layer: which of ``output_hidden_states`` (-1: the last layer) the estimator reads."""

    def __init__(
        self,
        lm: nn.Module,
        vocab: dict[str, int],
        alphabet: str,
        hidden_layer: int = -1,
        label: str = "masked LM",
    ):
        super().__init__()
        missing = [a for a in alphabet if a not in vocab]
        if missing:
            raise HFModelError(
                f"the model's vocabulary has no token for {''.join(missing)!r}; an alphabet "
                f"must use its letters ({len(vocab)} tokens)"
            )
        special = {
            role: next((vocab[t] for t in names if t in vocab), None)
            for role, names in SPECIAL.items()
        }
        if special["mask"] is None:
            raise HFModelError(
                "the model's vocabulary has no mask token ([MASK] or <mask>): not a masked LM"
            )
        self.lm = lm
        self.alphabet = alphabet
        self.num_values = len(alphabet)
        self.mask_id = self.num_values
        self.pad_id = self.num_values + 1
        self.hidden_layer = int(hidden_layer)
        self.label = label
        pad_token = special["pad"] if special["pad"] is not None else special["mask"]
        lut = torch.tensor(
            [vocab[a] for a in alphabet] + [special["mask"], pad_token], dtype=torch.long
        )
        self.register_buffer("to_vocab", lut, persistent=False)  # core id -> model id
        self.register_buffer("letters", lut[: self.num_values].clone(), persistent=False)
        self.bos, self.eos, self.pad = special["bos"], special["eos"], pad_token

    def model_tokens(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(ids[B, L + extra], attention[B, L + extra], offset): BOS, the mapped tokens, EOS right after
        each sequence's last non-pad position, then padding; ``offset`` is 1 with a BOS, else 0."""
        B, L = tokens.shape
        if bool(((tokens < 0) | (tokens > self.pad_id)).any()):
            raise ValueError(
                f"tokens must be 0..{self.pad_id} ({self.num_values} letters, {self.mask_id} mask, "
                f"{self.pad_id} pad)"
            )
        offset = int(self.bos is not None)
        extra = offset + int(self.eos is not None)
        ids = torch.full((B, L + extra), self.pad, dtype=torch.long, device=tokens.device)
        if offset:
            ids[:, 0] = self.bos
        ids[:, offset : offset + L] = self.to_vocab[tokens]
        lengths = (tokens != self.pad_id).sum(-1)
        if self.eos is not None:
            ids[torch.arange(B, device=tokens.device), lengths + offset] = self.eos
        attention = (
            torch.arange(L + extra, device=tokens.device)[None, :] < (lengths + extra)[:, None]
        )
        return ids, attention.long(), offset

    def forward(self, tokens: torch.Tensor):
        ids, attention, offset = self.model_tokens(tokens)
        out = self.lm(input_ids=ids, attention_mask=attention, output_hidden_states=True)
        L = tokens.shape[1]
        logits = out.logits[:, offset : offset + L][..., self.letters]  # [B, L, V]
        hidden = out.hidden_states[self.hidden_layer][:, offset : offset + L]  # [B, L, D]
        return logits, hidden


def read_vocab(path: Path) -> dict[str, int]:
    """A BERT/ESM ``vocab.txt``: token -> line number."""
    tokens = Path(path).read_text().splitlines()
    return {t.strip(): i for i, t in enumerate(tokens) if t.strip()}


def resolve_source(source: str) -> Path:
    """A local folder as it is; ``package:<pkg>/<path>`` inside an installed package (found without
    importing it); anything else a Hugging Face hub id, downloaded (config, weights, vocabulary)."""
    if source.startswith("package:"):
        pkg, _, rest = source[len("package:") :].partition("/")
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise UsageError(
                f"{source}: package {pkg!r} is not installed; pip install it (make setup does)"
            )
        return Path(list(spec.submodule_search_locations)[0]) / rest
    path = Path(source).expanduser()
    if path.exists() or source.startswith((".", "/", "~")):
        if not path.is_dir():
            raise UsageError(
                f"{source}: no such model folder; give a folder with config.json and weights, or a hub id"
            )
        return path
    from huggingface_hub import snapshot_download  # noqa: PLC0415

    try:
        return Path(
            snapshot_download(
                source, allow_patterns=["config.json", "*.safetensors", "*.txt", "*.json"]
            )
        )
    except (
        OSError
    ) as e:  # offline, unknown repo: connection errors and LocalEntryNotFoundError are OSErrors
        raise UsageError(
            f"cannot fetch {source} from the Hugging Face hub ({type(e).__name__}); run once with "
            f"network access (afterwards HF_HUB_OFFLINE=1 uses the cache) or give a local folder"
        ) from e


def _state_dict(folder: Path, sha256: str | None) -> tuple[dict, Path]:
    """The folder's weights, loaded without unpickling, after the optional checksum."""
    path = next((folder / f for f in WEIGHT_FILES if (folder / f).exists()), None)
    if path is None:
        raise HFModelError(
            f"{folder}: no {' or '.join(WEIGHT_FILES)}; a model folder needs its weights"
        )
    if sha256:
        got = file_sha256(path)
        if got != sha256:
            raise HFModelError(
                f"{path}: sha256 {got[:16]}... is not the pinned {sha256[:16]}...: another model "
                f"or a damaged file; reinstall it, or update the pinned checksum if it was meant"
            )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file  # noqa: PLC0415

            return load_file(str(path)), path
        return torch.load(path, map_location="cpu", weights_only=True), path
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as e:
        raise HFModelError(
            f"{path}: not a weights file ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
        ) from e


def _skip_sklearn() -> None:
    """Keep transformers from importing scikit-learn (installed for ``esm``): its model classes pull in the
    generation utilities, whose assisted decoding imports ``sklearn.metrics`` when it is installed, 2 of the
    3.7 s that ``from transformers import AutoModelForMaskedLM`` takes (measured); a masked LM never
    generates. Only transformers' own availability flag is changed, before its modelling code loads."""
    import transformers.utils.import_utils as available  # noqa: PLC0415

    if hasattr(available, "_sklearn_available"):
        available._sklearn_available = False


def load_hf_masked_lm(
    source: str,
    alphabet: str,
    hidden_layer: int = -1,
    vocab: str | None = None,
    sha256: str | None = None,
    label: str | None = None,
) -> HFMaskedLM:
    """A masked LM from ``source`` (see :func:`resolve_source`) as an :class:`HFMaskedLM` on the CPU, in
    eval mode. ``vocab``: a vocab.txt (resolved like ``source``) when the folder has no tokenizer."""
    _skip_sklearn()
    from transformers import AutoConfig, AutoModelForMaskedLM  # noqa: PLC0415

    folder = resolve_source(source)
    if not (folder / "config.json").exists():
        raise HFModelError(
            f"{folder}: no config.json; a transformers model folder names its architecture there"
        )
    from transformers.utils import logging as hf_logging  # noqa: PLC0415

    config = AutoConfig.from_pretrained(folder)
    hf_logging.set_verbosity_error()  # transformers' notices about generation APIs a masked LM never uses
    try:
        lm = AutoModelForMaskedLM.from_config(config)
    except ValueError as e:  # a config of an architecture with no masked-LM head
        raise HFModelError(
            f"{folder}: {config.model_type} has no masked-LM head ({str(e).splitlines()[0][:120]})"
        ) from e
    state, path = _state_dict(folder, sha256)
    result = lm.load_state_dict(state, strict=False)
    tied = (
        set(getattr(lm, "_tied_weights_keys", None) or [])
        if getattr(config, "tie_word_embeddings", False)
        else set()
    )
    missing = [k for k in result.missing_keys if not k.endswith("position_ids") and k not in tied]
    if missing:
        raise HFModelError(
            f"{path}: weights of another architecture: {len(missing)} of the model's tensors are "
            f"missing (e.g. {missing[0]})"
        )
    if result.unexpected_keys:
        log.info(
            "%s: %d tensors not used by %s (e.g. %s)",
            path.name,
            len(result.unexpected_keys),
            type(lm).__name__,
            result.unexpected_keys[0],
        )
    if vocab is not None:
        table = read_vocab(resolve_source(vocab) if vocab.startswith("package:") else Path(vocab))
    elif (folder / "vocab.txt").exists():
        table = read_vocab(folder / "vocab.txt")
    else:
        from transformers import AutoTokenizer  # noqa: PLC0415

        table = AutoTokenizer.from_pretrained(folder).get_vocab()
    n = sum(p.numel() for p in lm.parameters())
    name = label or f"{source} ({n / 1e6:.1f}M parameters, pretrained)"
    return HFMaskedLM(lm.eval(), table, alphabet, hidden_layer, name).eval()
