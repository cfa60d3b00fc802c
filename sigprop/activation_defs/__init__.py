"""Activations defined one per file: each module here calls :func:`sigprop.activations.register_activation`
with the JAX callable, the NumPy rule (f, f', f'') and, where one exists, its closed-form dual kernel.
``cos.py`` is the template for a new one."""
