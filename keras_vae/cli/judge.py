"""`judge RUN_DIR`: an independent classifier judges the model's samples, and the sample-quality
numbers (Fréchet distance, precision, recall, density, coverage) go into the run's metrics.json;
the same as `python -m keras_vae.judge` (keras_vae/judge.py)."""


def add(commands):
    from keras_vae import judge

    parser = commands.add_parser("judge", help="judge a run's samples with a classifier trained on its data")
    judge.add_arguments(parser)
    parser.set_defaults(run=judge.report)
