"""`export RUN_DIR`: SavedModel (TF Serving) and ONNX artifacts, each verified against Keras."""

from keras_vae.cli.common import run_folder
from keras_vae.cli.numbers import AT_LEAST_1


def add(commands):
    parser = commands.add_parser(
        "export",
        help="export a trained run for TF Serving / onnxruntime",
        description="Write OUT/<entry>_<part>/<N>/ (SavedModel) and OUT/onnx/<entry>_<part>/<N>/model.onnx, "
        "each reloaded and compared with the Keras model before it is kept.",
    )
    parser.add_argument("run_dir", help="run folder, or a zoo entry name for its shipped weights")
    parser.add_argument(
        "--format",
        default="all",
        choices=["savedmodel", "onnx", "all"],
        help="all (the default): both formats of each part exported",
    )
    parser.add_argument(
        "--part",
        help="a part the model declares (decoder, encoder, prior, ...) or all; default: the model's "
        "deployable default, its decoder (td_vae: all, its belief and rollout_step, which work only together)",
    )
    parser.add_argument(
        "--out", help="output folder (default RUN_DIR/export; runs/ENTRY/pretrained/export for a zoo entry)"
    )
    parser.add_argument(
        "--version", type=int, action=AT_LEAST_1, help="version number (default: one more than the highest existing)"
    )
    parser.set_defaults(run=run, check=check)


def check(args):
    """The run folder, before TensorFlow (the parts are the model's own: known once it is loaded)."""
    args.run_dir = run_folder(args.run_dir)


def run(args):
    from keras_vae.export import artifacts

    done = artifacts.export_run(args.run_dir, args.format, args.part, args.out, args.version)
    for artifact in done:
        print(artifacts.describe(artifact))
