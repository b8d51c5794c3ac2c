"""Helpers of scripts/check-infra, run with its tools' venv (aws-sam-translator, PyYAML).

  infra-tool.py translate TEMPLATE OUT.json   SAM -> plain CloudFormation, offline
  infra-tool.py dump TEMPLATE                 the template as JSON on stdout (intrinsics in
                                              their long form: {"Ref": ...}, {"Fn::Sub": ...})
"""

import json
import sys

import yaml
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template attaches no AWS managed policy by name (each function has its own role),
    so the translator never needs the account's list, which would be fetched with IAM."""

    def load(self):
        raise SystemExit(
            "infra-tool: the template names an AWS managed policy; list it here "
            "(name -> ARN) rather than looking it up online"
        )


def read(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # CloudFormation does not accept YAML anchors and aliases, though PyYAML (and so the
    # translator and the linters) would.
    for event in yaml.parse(text):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            line = event.start_mark.line + 1
            raise SystemExit(f"infra-tool: {path}:{line}: YAML anchors and aliases are not accepted by CloudFormation")
    return yaml_parse(text)


def packaged(template):
    """What `sam package` does to local code before the transform: the translator accepts
    only S3 locations for CodeUri."""
    placeholder = "s3://recap-placeholder/code.zip"
    functions = [template.get("Globals", {}).get("Function", {})]
    functions += [
        r.get("Properties", {})
        for r in template.get("Resources", {}).values()
        if r.get("Type") == "AWS::Serverless::Function"
    ]
    for props in functions:
        uri = props.get("CodeUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            props["CodeUri"] = placeholder
    return template


def translate(path, out):
    template = packaged(read(path))
    try:
        # Metadata is passed through, so that checkov's inline skips reach the generated
        # resources too.
        translated = transform(template, {}, NoManagedPolicies(), passthrough_metadata=True)
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"infra-tool: {path}: {cause.message}", file=sys.stderr)
        raise SystemExit(f"infra-tool: aws-sam-translator rejected {path}")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(translated, f, indent=1)
    n = len(translated.get("Resources", {}))
    print(f"infra-tool: translated to {n} CloudFormation resources", file=sys.stderr)


def main(argv):
    if len(argv) == 3 and argv[0] == "translate":
        translate(argv[1], argv[2])
    elif len(argv) == 2 and argv[0] == "dump":
        json.dump(read(argv[1]), sys.stdout, indent=1)
        print()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
