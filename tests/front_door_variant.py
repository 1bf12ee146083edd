"""template.yaml with another FrontDoor default, for checkov.

checkov resolves a template's conditions with its parameters' defaults and takes no parameter
values, so it sees only the default front door's resources. scripts/test therefore also runs it
on this copy, which differs from template.yaml in that one default (template_test.py checks it).

Usage: front_door_variant.py FRONT_DOOR OUTPUT
"""

import pathlib
import re
import sys

TEMPLATE = pathlib.Path(__file__).resolve().parent.parent / "template.yaml"
DEFAULT = re.compile(r"(\n  FrontDoor:\n    Type: String\n    Default: )(\w+)\n")


def variant(text, front_door):
    changed, count = DEFAULT.subn(lambda m: f"{m[1]}{front_door}\n", text)
    assert count == 1, "template.yaml's FrontDoor parameter is not where this expects it"
    return changed


if __name__ == "__main__":
    front_door, output = sys.argv[1:]
    pathlib.Path(output).write_text(variant(TEMPLATE.read_text(), front_door))
