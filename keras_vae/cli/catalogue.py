"""`list`: the zoo entries, one line each."""


def add(commands):
    parser = commands.add_parser("list", help="list the zoo entries")
    parser.set_defaults(run=run)


def run(args):
    from keras_vae import registry

    rows = registry.list_entries()
    width = max(len(name) for name, _, _ in rows)
    for name, description, params in rows:
        print(f"{name:<{width}}  {params:>10,} params  {description}")
