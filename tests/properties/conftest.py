from tests.properties.stage import stage

__all__ = ["stage"]
