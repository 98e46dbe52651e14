"""`serve-web [RUN_DIR_OR_ENTRY]`: the browser decoder explorer (export/web/) on 127.0.0.1."""

from keras_vae.cli.common import run_folder
from keras_vae.cli.numbers import POSITIVE, bounded


def add(commands):
    parser = commands.add_parser(
        "serve-web",
        help="explore and sample a decoder in the browser",
        description="Export the run's decoder (and its priors or its fitted sampler, if the run has them) to ONNX "
        "if needed, then serve the page (export/web/, or the installed package's copy) with them at "
        "http://127.0.0.1:PORT/ (this machine only).",
    )
    parser.add_argument(
        "run_dir",
        nargs="?",
        default="conv_vae",
        metavar="RUN_DIR_OR_ENTRY",
        help="run folder or zoo entry name (default conv_vae: its shipped weights)",
    )
    parser.add_argument(
        "--port", type=int, default=8000, action=bounded(0, 65535), help="default 8000; 0 picks a free port"
    )
    parser.add_argument(
        "--stop-after", type=float, metavar="SECONDS", action=POSITIVE, help="stop by itself after SECONDS"
    )
    parser.set_defaults(run=run, check=check)


def check(args):
    """The run folder, before TensorFlow and before the port is taken."""
    args.run_dir = run_folder(args.run_dir)


def run(args):
    from keras_vae.export import web

    web.check_page()
    server = web.make_server(port=args.port)
    try:
        parts = web.page_parts(args.run_dir)
    except BaseException:
        server.server_close()
        raise
    priors = {part: path for part, (path, _) in parts.items() if part != "decoder"}
    web.set_models(server, parts["decoder"][0], priors)
    host, port = server.server_address[:2]
    for path, exported in parts.values():  # the decoder first
        print(f"{'exported' if exported else 'using'} {path}")
    what = "the decoder explorer" + (
        " and prior sampler" if set(priors) - {web.SAMPLER} else " and GMM sampler" if priors else ""
    )
    print(f"serving {what} at http://{host}:{port}/  (Ctrl-C stops)", flush=True)
    web.serve(server, args.stop_after)
    # --stop-after's timer ends serve(); Ctrl-C raises instead ("interrupted", exit 130)
    print("stopped" + (f" after {args.stop_after:g} s" if args.stop_after else ""), flush=True)
