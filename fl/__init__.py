"""Federated learning across organisations: a deterioration-risk model trained where the data is.

``fl.features`` turns readings into the model's features (one function for training and
serving), ``fl.model`` is the logistic regression, ``fl.app`` the Flower ServerApp and
ClientApp (FedAvg/FedProx, SecAgg+, client-side DP), ``fl.simulate`` and ``fl.deploy`` run
them, ``fl.report`` evaluates, ``fl.artefact`` publishes versioned models to hubs.
See docs/federated.md.
"""
