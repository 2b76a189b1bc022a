"""The class names of a configuration in class-index order, as metrics, timelines and pages list them."""


def label_names(config) -> list[str]:
    """`config.id2label` as a list: the name of class 0, 1, ... (`num_labels` of them)."""
    return [config.id2label[index] for index in range(config.num_labels)]


__all__ = ["label_names"]
