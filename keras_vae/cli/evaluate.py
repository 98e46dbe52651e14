"""`evaluate RUN_DIR`: test metrics of a trained run."""


def add(commands):
    parser = commands.add_parser("evaluate", help="evaluate a trained run on its test split")
    parser.add_argument("run_dir", help="run folder")
    parser.add_argument("--dataset", help="evaluate on this dataset instead of the run's own")
    parser.add_argument("--limit", type=int, help="use only the first N test images")
    parser.set_defaults(run=run)


def run(args):
    from keras_vae.evaluate import evaluate_run

    metrics = evaluate_run(args.run_dir, dataset=args.dataset, limit=args.limit)
    print(f"test metrics on {metrics.pop('dataset')} (nats per example):")
    for name, value in metrics.items():
        print(f"  {name:<16} {value:12.4f}")
