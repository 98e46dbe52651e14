import sys

from keras_vae.cli import main

sys.exit(main())
