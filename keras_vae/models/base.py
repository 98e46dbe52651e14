"""`ZooModel`: the one base of every zoo model, whatever its family.

It owns what every family shares: the trackers (one `keras.metrics.Mean` per name in
`loss_names`), `train_step` / `test_step` over dict batches, the distribution-correct objective,
the noise source and `get_config`. A family supplies `build_networks()` and `loss_terms(batch)`,
and declares what the rest of the package asks of it (see `keras_vae.core.contract`):

    batch_keys        the keys of a batch that `loss_terms` reads ({"images": ..., "labels": ...})
    condition_classes integer conditions it takes, {batch key: number of classes} (a CVAE's labels)
    loss_names        the per-example terms it logs, "loss" (the objective) first
    term_docs         name -> Term(units, description) for every logged or evaluated term
    figures           names of the figures `plot` draws for it, in order; each is the family's
                      own (`drawers`, `draw_figure`) or a generic one of keras_vae.runner.figures
                      (prior_samples: `sample` and `prior_description`)
    figure_file(name) the file a figure is written to; `figure_files(name)` every file it writes
    card_figures      the figures a model card shows (and `pretrain` ships)
    headline(metrics) the numbers `list` shows for an evaluation (stored in metrics.json)
    report_columns    the evaluated metrics a sweep report tabulates (`Column`s)
    frames_needed     frames a sequence must have for a model that reads sequences (2: a pair)
    sample_figure     None: `sample` writes a grid of `sample(n)`; or the name of a figure that
                      `sample` draws from n test examples instead (td_vae: "rollouts")
    image_shape       (H, W, C) of the images or frames it reads; None for a model of codes
    bound             "iwae" when `latent_model()` supports the importance-weighted bound, else None
    stages            the later training stages it has ("prior"), each its own ZooModel trained
                      after it on the frozen model's outputs (`stage_model`, `stage_batch`,
                      `attach`; see keras_vae/runner/stages.py)
    fitted_samplers   the samplers of its latent code fitted after training ("gmm": an ex-post
                      Gaussian mixture), which `sample(..., sampler=name)` draws z from once
                      attached (`attach_sampler`; see keras_vae/runner/samplers.py)
    export_parts()    the parts that export alone
    export_default    what `export` writes without --part: one part's name ("decoder", the
                      default) or "all" (td_vae: its belief and rollout step work only together)
    evaluation_terms(batch), summarize(per_example), sample(n, seed, **conditions)

Build order: a subclass's `__init__` sets its own attributes in any order around
`super().__init__(**kwargs)`; the networks are built once the outermost `__init__` has returned
(`BuildAfterInit`), so every hook sees every attribute.
"""

import keras
import numpy as np
import tensorflow as tf

from keras_vae.core import distributed
from keras_vae.core.contract import NATS, Column, Term
from keras_vae.core.errors import UserError
from keras_vae.core.keras_internals import BuildWithoutBatch
from keras_vae.core.layers import Noise


class BuildAfterInit(type):
    """Calls `finish_init()` on a new model after the outermost `__init__` has returned."""

    def __call__(cls, *args, **kwargs):
        model = super().__call__(*args, **kwargs)
        model.finish_init()
        return model


def as_batch(data):
    """A batch as a dict: Keras may hand `train_step` a bare image tensor (`fit(x)`) or an
    (images, labels) pair; the pipelines of `keras_vae.data.datasets` yield dicts already.

    Args:
        data: a dict of tensors; an images tensor [B, H, W, C]; an (images,) or (images, labels)
            tuple or list (labels [B] int, or None).

    Returns:
        dict: {"images": ...} and "labels" when given; a dict is returned as it is.
    """
    if isinstance(data, (tuple, list)) and len(data) == 1:
        data = data[0]
    if isinstance(data, dict):
        return data
    if isinstance(data, (tuple, list)):
        return {"images": data[0], **({"labels": data[1]} if len(data) > 1 and data[1] is not None else {})}
    return {"images": data}


class _Untracked:
    """A holder Keras does not look into (it tracks layers in lists and dicts)."""

    def __init__(self):
        self.models = {}
        self.samplers = {}


class ZooModel(BuildWithoutBatch, keras.Model, metaclass=BuildAfterInit):
    """The base of every zoo model (the module docstring lists what a family declares).

    Args:
        seed: int seed of the model's noise source (`Noise`: reparameterization, binarization,
            corruption, and a VQ-VAE's code restarts); None draws one from NumPy's global state.
        **kwargs: `keras.Model` arguments (name, dtype, trainable).
    """

    batch_keys = ("images",)
    condition_classes = {}  # integer conditions the model takes: {batch key: number of classes}
    loss_names = ("loss",)
    term_docs = {"loss": Term(NATS, "the training objective")}
    figures = ()
    drawers = {}  # figure name -> drawer(model, examples, seed) -> pictures (keras_vae.core.pictures)
    card_figures = ()
    sample_figure = None
    frames_needed = 2
    image_shape = None  # (H, W, C) of the images (or frames) the model reads; set by the family
    bound = None
    stages = ()  # later training stages (learned priors), trained after the model itself
    fitted_samplers = ()  # samplers of the latent code fitted after training (keras_vae.core.mixture)
    export_default = "decoder"  # the deployable default of `export`: a part's name or "all"
    has_code = False  # whether `code(batch)` gives a latent code [B, latent_dim] (the autoencoders)

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.noise = Noise(seed=seed, name="noise")
        self._trained_stages = _Untracked()

    def finish_init(self):
        self.build_networks()
        self.trackers = [keras.metrics.Mean(name=name) for name in self.loss_names]
        self.built = True  # every weight exists once the networks do

    def build_networks(self):
        """Create the sub-models and weights; every constructor argument is set by now."""

    # -- what a family supplies ---------------------------------------------------------------
    def loss_terms(self, batch, training=False):
        """The per-example terms of a batch, "loss" the objective.

        Args:
            batch: a dict of tensors with at least `batch_keys` (images [B, H, W, C] float32 in [0, 1]).
            training: whether the networks run in training mode (and fresh noise is drawn where
                the family draws it only in training, e.g. dynamic binarization).

        Returns:
            {name: per-example float32 tensor [B]} with at least every name in `loss_names`
            (nats per example unless `term_docs` says otherwise); a family may add other entries.
        """
        raise NotImplementedError

    @property
    def evaluated_names(self):
        """The logged terms `evaluate` reports and the training curves show (not, say, one
        per latent dimension)."""
        return self.loss_names

    @property
    def report_columns(self):
        """The columns of a sweep report (a tuple of `keras_vae.core.contract.Column`): one per
        evaluated name unless the family chooses."""
        return tuple(Column(name, name) for name in self.evaluated_names)

    def evaluation_terms(self, batch, terms):
        """Per-example measures beyond `terms` for `evaluate`.

        Args:
            batch: a dict batch of the test split.
            terms: this batch's `loss_terms(batch, training=False)`, computed once.

        Returns:
            {name: [B] or [B, ...]}: values `summarize` reduces; {} by default.
        """
        return {}

    def summarize(self, per_example):
        """Test-split metrics from the concatenated per-example values: the mean of every
        [N] array; a family with vector-valued terms reduces them itself.

        Args:
            per_example: {name: np.ndarray [N] or [N, ...]} over the N test examples.

        Returns:
            {name: float} for every [N] array (others are left out).
        """
        return {name: float(np.mean(value)) for name, value in per_example.items() if np.ndim(value) == 1}

    def latent_model(self, training=False, targets=False):
        """This model as `keras_vae.core.iwae` sees it (a `LatentModel`), when `bound` is "iwae".

        Raises:
            NotImplementedError: the model declares no importance-weighted bound (`bound` None).
        """
        raise NotImplementedError(f"{type(self).__name__} declares no importance-weighted bound")

    def evaluation_header(self):
        """What the evaluated numbers are (likelihood, units, ...), for metrics.json.

        Returns:
            dict of plain JSON; at least "units".
        """
        return {"units": NATS}

    def headline(self, metrics):
        """The few numbers that sum up an evaluation, as `list` shows them beside the entry
        (`evaluate` stores them in metrics.json as "headline"): the loss unless the family says more.

        Args:
            metrics: the evaluated metrics, as in metrics.json (at least this model's summarized
                terms, e.g. "loss").

        Returns:
            A list of str, each one number with its name, e.g. ["ELBO -96.5", "IWAE (k = 1000) -91.2"].
        """
        return [f"loss {metrics['loss']:.1f}"]

    def code(self, batch, training=False):
        """The deterministic latent code of each image of the batch, float32 [B, latent_dim] (a
        VAE's posterior mean), for a model with `has_code`; the disentanglement metrics read it.

        Raises:
            NotImplementedError: the model has no such code.
        """
        raise NotImplementedError(f"{type(self).__name__} has no latent code")

    prior_description = "the model's prior"  # what `sample` draws, for figure titles

    # -- figures ------------------------------------------------------------------------------
    def figure_file(self, name):
        """The file name figure `name` is written to (a str, "<name>.png" unless the family says
        otherwise: a denoiser's figure is its reconstructions.png)."""
        return f"{name}.png"

    def figure_files(self, name):
        """Every file figure `name` writes, `figure_file(name)` first (a tuple of str): a
        figure with an animation also writes <stem>.gif."""
        return (self.figure_file(name),)

    def draw_figure(self, name, examples=None, seed=0):
        """Figure `name`, one of the family's own `drawers`, as data.

        Args:
            name: a key of `drawers`.
            examples: the test split, {batch key: array [N, ...]}, for figures that show data.
            seed: int, for figures that sample.

        Returns:
            A `keras_vae.core.pictures` picture, or a tuple of them (written in order: the first
            to `figure_file(name)`, an Animation beside it as a GIF).

        Raises:
            KeyError: the family draws no figure `name`.
        """
        return self.drawers[name](self, examples=examples, seed=seed)

    def card_table(self, metrics):
        """Markdown the model card shows above the metrics table (its own view of `metrics`), or ''.

        Args:
            metrics: the evaluated metrics, as in metrics.json.

        Returns:
            str.
        """
        return ""

    def sample(self, n, seed=None, **conditions):
        """n new examples from the model's prior; the same seed gives the same examples.

        Args:
            n: the number of examples.
            seed: int for repeatable draws (stateless), or None.
            **conditions: a conditional model's conditions, e.g. labels=3.

        Returns:
            the examples, e.g. images [n, H, W, C] float32 in [0, 1].

        Raises:
            UserError: the model is not generative (this default), or a condition is wrong.
        """
        raise UserError(f"{type(self).__name__} is not a generative model: it has no prior to sample")

    def export_parts(self):
        """The parts that export alone.

        Returns:
            list of `keras_vae.core.contract.Part`; [] by default.
        """
        return []

    # -- later training stages (learned priors) ---------------------------------------------
    def stage_model(self, name):
        """A fresh, uncompiled ZooModel for stage `name` (a learned prior), sized from this
        model's config.

        Args:
            name: one of `stages`.

        Returns:
            ZooModel.

        Raises:
            NotImplementedError: the model declares no such stage (this default).
        """
        raise NotImplementedError(f"{type(self).__name__} declares no stage {name!r}")

    def stage_batch(self, name, batch):
        """The inputs of stage `name` for a batch of the data, computed by this model in inference
        mode: the stage trains on the frozen model's outputs.

        Args:
            name: one of `stages`.
            batch: a dict batch of the data (images [B, H, W, C] float32 in [0, 1]).

        Returns:
            the stage model's batch, e.g. {"codes": int32 [B, h, w]}.

        Raises:
            NotImplementedError: the model declares no such stage (this default).
        """
        raise NotImplementedError(f"{type(self).__name__} declares no stage {name!r}")

    def attach(self, name, model):
        """Hand the trained stage `name` to this model (sampling, evaluation and export use it).

        Kept out of Keras's tracking: the stage is saved in its own file, never in this
        model's weights.

        Args:
            name: one of `stages`.
            model: the trained stage model (a ZooModel).

        Raises:
            ValueError: `name` is not one of `stages`.
        """
        if name not in self.stages:
            raise ValueError(f"{type(self).__name__} declares no stage {name!r}")
        self._trained_stages.models[name] = model

    def attached(self, name, required=True):
        """The trained stage `name`; if it is missing, None, or with `required` a UserError
        that says how to train it.

        Args:
            name: one of `stages`.
            required: whether a missing stage is an error.

        Returns:
            the attached ZooModel, or None.

        Raises:
            UserError: `required` and the stage is not attached.
        """
        model = self._trained_stages.models.get(name)
        if model is None and required:
            raise UserError(
                f"{type(self).__name__}'s {name} is not trained yet: train it with "
                f"`train --resume RUN_DIR --stage {name}`"
            )
        return model

    def attach_sampler(self, name, sampler):
        """Hand a fitted sampler of the latent code to this model: `sample(..., sampler=name)`
        draws z from it. Kept out of Keras's tracking: it is saved in its own files.

        Args:
            name: one of `fitted_samplers`.
            sampler: an object with `sample(n, seed)` -> float32 codes [n, latent_dim].

        Raises:
            ValueError: `name` is not one of `fitted_samplers`.
        """
        if name not in self.fitted_samplers:
            raise ValueError(f"{type(self).__name__} fits no sampler {name!r}")
        self._trained_stages.samplers[name] = sampler

    def attached_samplers(self):
        """The names of the fitted samplers attached now, in `fitted_samplers` order."""
        return tuple(name for name in self.fitted_samplers if name in self._trained_stages.samplers)

    def fitted_sampler(self, name):
        """The attached fitted sampler `name`.

        Raises:
            UserError: the model fits no such sampler, or it is not fitted yet (saying how to fit it).
        """
        if name not in self.fitted_samplers:
            known = ", ".join(("normal", *self.fitted_samplers)) if self.fitted_samplers else "none"
            raise UserError(f"{type(self).__name__} has no sampler {name!r}; its samplers: {known}")
        sampler = self._trained_stages.samplers.get(name)
        if sampler is None:
            raise UserError(
                f"{type(self).__name__}'s {name} sampler is not fitted yet: fit it with "
                "`train --resume RUN_DIR --stage sampler`"
            )
        return sampler

    # -- training -----------------------------------------------------------------------------
    @property
    def metrics(self):
        return self.trackers

    def _record(self, terms):
        # distributed.py also shapes the logs so Keras 3.15 can reduce them across workers.
        return distributed.record_means(self.trackers, terms)

    def check_batch(self, batch):
        """`batch` if it has every key in `batch_keys`.

        Args:
            batch: a dict batch.

        Returns:
            `batch`, unchanged.

        Raises:
            UserError: naming the missing keys.
        """
        missing = [key for key in self.batch_keys if key not in batch]
        if missing:
            raise UserError(f"{type(self).__name__} needs batches with {list(self.batch_keys)}; missing {missing}")
        return batch

    def objective(self, terms):
        """The scalar to minimize: per-example loss averaged over the global batch, so gradients
        summed across replicas by tf.distribute equal the single-device gradient.

        Args:
            terms: `loss_terms` output; "loss" float32 [B], nats per example.

        Returns:
            float32 scalar: the mean loss over the global batch, plus the scaled regularization
            losses of the layers (`self.losses`) if any.
        """
        loss = tf.nn.compute_average_loss(terms["loss"], global_batch_size=distributed.global_batch_size(terms["loss"]))
        if self.losses:
            loss += tf.nn.scale_regularization_loss(tf.add_n(self.losses))
        return loss

    def train_step(self, data):
        batch = self.check_batch(as_batch(data))
        with tf.GradientTape() as tape:
            terms = self.loss_terms(batch, training=True)
            scaled = self.optimizer.scale_loss(self.objective(terms))
        gradients = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        return self._record(terms)

    def test_step(self, data):
        return self._record(self.loss_terms(self.check_batch(as_batch(data)), training=False))

    # -- serialization ------------------------------------------------------------------------
    def get_config(self):
        """keras.Model's config and `seed`. Each subclass whose `__init__` adds arguments adds
        them in its own `get_config` (tests/test_serialization.py checks that none is left out)."""
        return {**super().get_config(), "seed": self.seed}
