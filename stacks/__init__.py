"""Infrastructure: one stack per account and blast radius (``stacks.app_stacks.create_stacks``), composed from the
constructs in ``stacks.constructs``.

Kept free of imports so that a tool may use a leaf module (``stacks.layer_spec``) without loading the CDK app.
"""
