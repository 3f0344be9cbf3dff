"""Running the notebooks: plan, execute, publish, reuse, index (see run/runner.py)."""

import sys

UNUSED_IMPORTS = ("rfc3987_syntax",)


def skip_unused_imports() -> None:
    """Keep out of this process what its imports would load and never use.

    jsonschema, which nbformat imports (so papermill and nbconvert too), loads `rfc3987_syntax` for its 'iri'
    format checker, and that module builds some 35 Lark grammars when imported: 1.1 s of CPU in every process of a
    batch (python-jsonschema/jsonschema#1428). nbformat's schemas check no format, so jsonschema goes without that
    checker, as it does wherever the package is not installed (it imports it under `suppress(ImportError)`).
    """
    for name in UNUSED_IMPORTS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: `import name` raises ImportError
