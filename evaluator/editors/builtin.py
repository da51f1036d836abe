"""Importing this module registers every built-in editor."""

# One import per editor module; each module registers itself with @register_editor.
import evaluator.editors.alphaedit  # noqa: F401
import evaluator.editors.ft  # noqa: F401
import evaluator.editors.grace  # noqa: F401
import evaluator.editors.ike  # noqa: F401
import evaluator.editors.lora  # noqa: F401
import evaluator.editors.memit  # noqa: F401
import evaluator.editors.memoir  # noqa: F401
import evaluator.editors.mend  # noqa: F401
import evaluator.editors.serac  # noqa: F401
import evaluator.editors.ultraedit  # noqa: F401
import evaluator.editors.wise  # noqa: F401
