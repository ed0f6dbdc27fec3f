"""``course edgetpu``: the Edge TPU pre-flight (``analyze``) and its agreement with a real compiler result
(``compare``)."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("edgetpu", help="Edge TPU pre-flight: where each op runs after edgetpu_compiler",
                       description="Predict, without the compiler, which ops edgetpu_compiler maps to the Edge TPU, "
                                   "or compare the prediction with a real compiled model or log.")
    s = p.add_subparsers(dest="action", required=True)
    a = s.add_parser("analyze", help="predict the compiler's placement, op by op (its .log format, or JSON)")
    a.add_argument("model", help="the CPU .tflite (full-integer)")
    c = s.add_parser("compare", help="agreement of the prediction with a real *_edgetpu.tflite or *_edgetpu.log "
                                     "(exit 1 if any op is placed differently)")
    c.add_argument("model", help="the CPU .tflite the compiler was given")
    c.add_argument("reference", help="what the compiler made of it: MODEL_edgetpu.tflite, or its .log")
    for q in (a, c):
        q.add_argument("--compiler-version", type=int, choices=[15, 16], default=16,
                       help="the edgetpu_compiler major version whose rules apply (default 16, the current one)")
        q.add_argument("-a", "--multiple-subgraphs", action="store_true",
                       help="as the compiler's -a: every op that can map does, in several Edge TPU subgraphs")
    a.add_argument("--json", action="store_true", help="print the prediction as JSON")
    p.set_defaults(func=main)


def main(args) -> int:
    import json

    from .. import edgetpu

    if args.action == "analyze":
        report = edgetpu.analyze(args.model, multiple_subgraphs=args.multiple_subgraphs,
                                 compiler_version=args.compiler_version)
        print(json.dumps(report.to_dict(), indent=1) if args.json else report.log())
        return 0
    agreement = edgetpu.compare(args.model, args.reference, compiler_version=args.compiler_version,
                                multiple_subgraphs=args.multiple_subgraphs)
    print(agreement.table())
    return 0 if agreement.partition_right else 1
