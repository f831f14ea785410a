"""user-service: a Kubernetes-native user-management microservice."""

# A constant, because asking importlib.metadata at import cost a tenth of the cold start;
# tests/test_version.py keeps it equal to pyproject.toml's and the chart's appVersion.
__version__ = "0.1.0"
