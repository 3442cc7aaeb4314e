"""Stand-ins for faults a real part cannot be made to show on demand."""

from __future__ import annotations

from pathlib import Path


def segfaulting_llama_server(directory: Path) -> tuple[Path, Path]:
    """(binary, model): a llama-server that dies of SIGSEGV while loading, as the AMX build did.

    It prints a loading line first (the log tail a report should show); the model only has
    the GGUF magic, enough for the node's own file check.
    """
    binary = directory / 'llama-server'
    binary.write_text('#!/bin/sh\necho "llama_model_load: loading model from $2"\nkill -SEGV $$\n')
    binary.chmod(0o755)
    model = directory / 'model.gguf'
    model.write_bytes(b'GGUF' + bytes(60))
    return binary, model
