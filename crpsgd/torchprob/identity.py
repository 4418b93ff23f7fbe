"""What a torch model is, for ``--resume``: a checkpoint records it, a resumed run compares.

The identity of a model is its architecture (the type of every submodule, the name and
shape of every parameter and buffer, in module order) and, when Python can find it, the
source text of the callable that builds it (``--model pkg.module:build``). A resumed run
whose ``--model`` builds something else (ReLU changed to Tanh, a layer resized, the build
edited) is refused before it touches the log, instead of continuing a different model from
the checkpoint's parameters (:func:`crpsgd.session.resume_check.check_identity`).
"""

from __future__ import annotations

import hashlib
import inspect

from torch import nn

from crpsgd.torchprob.usercode import import_callable


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def architecture(model: nn.Module) -> str:
    """One line per submodule (``name: package.Type``), parameter and buffer (``name
    shape``), in module order."""
    lines = [
        f"{n or '.'}: {type(m).__module__}.{type(m).__qualname__}" for n, m in model.named_modules()
    ]
    lines += [f"parameter {n} {tuple(p.shape)}" for n, p in model.named_parameters()]
    lines += [f"buffer {n} {tuple(b.shape)}" for n, b in model.named_buffers()]
    return "\n".join(lines)


def build_source(spec: str) -> str:
    """The source text of ``--model``'s callable (``""`` when Python cannot find it)."""
    if ":" not in spec:
        return ""
    try:
        return inspect.getsource(import_callable(spec))
    except Exception:  # a callable without source (C, lambda in a REPL, a zip): no source
        return ""


def model_identity(model: nn.Module, spec: str) -> dict[str, str]:
    """``{"architecture": sha256, "source": sha256 or "", "parameters": count}`` of the
    model built by ``--model=spec`` (JSON-ready, for the checkpoint's state)."""
    source = build_source(spec)
    return {
        "architecture": _sha(architecture(model)),
        "source": _sha(source) if source else "",
        "parameters": str(sum(p.numel() for p in model.parameters())),
    }
