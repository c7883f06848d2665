"""gbrules' BDD step vocabulary (``steps``): the sentences clinician-readable scenarios are
written in, as pytest-bdd step definitions, shipped so that an installed gbrules can run them.

A surface of its own: the steps read every other surface a clinician sees (drafts, cards, the
CarePlan), and ``gbrules.io.review.run`` runs them in a subprocess without importing them.
"""
