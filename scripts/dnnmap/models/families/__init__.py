"""The shipped model families; importing this package registers them.

These hand-written families give their shapes in closed form, so that a config using only
them never imports torch before the jobs run. Every other torchvision classification model,
timm model and user module gets a family on demand (:mod:`dnnmap.models.sources`), so a
family is written here only where a closed form (or a layer table that differs from the
derived friendly names of :mod:`dnnmap.models.aliases`) is worth it.

Recipe: adding an architecture
------------------------------
1. Add a module here (or an entry to a related one, as ResNet-34/50 in ``resnet.py``) that
   calls :func:`dnnmap.models.registry.register` with a
   :class:`~dnnmap.models.registry.ModelFamily`, and add it to the import list below.
2. Declare everything about it there: ``name`` (the config's ``architecture``),
   ``modality``, ``layers`` (friendly name -> module path, in network order), ``build``
   (:func:`~dnnmap.models.registry.torchvision_builder` for torchvision networks),
   ``unit_shapes(resize)`` (closed-form output shape of each layer), ``n_parameters``, the
   accepted ``weights`` names, ``preprocessing`` defaults and ``cpu_seconds_per_image``.
3. Nothing else changes: config checks, job sizing, building and extraction ask the family.
4. ``pytest tests/unit/models`` covers it without edits: the layer paths are modules, the
   shapes and parameter count match a forward pass, the weights names are torchvision's,
   and an extraction with seeded random weights on one small image gives the declared
   shapes. Document its layers in ``config/README.md``.
"""

from dnnmap.models.families import alexnet, resnet, vggish, video

__all__ = ["alexnet", "resnet", "vggish", "video"]
