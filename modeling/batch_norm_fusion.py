"""The inference step that folds BatchNorm into convolutions, for every model of the package."""


def fuse_batch_norm(model):
    """
    Fold the model's frozen BatchNorms into its convolutions for inference, where the model supports it
    (`model.fuse_batch_norm()`, GCA-ResNet); any other model (LOGO-Former, remote code from a checkpoint saved
    before the method existed) comes back unchanged. The model must be in eval mode; `train()` undoes the fusion
    and checkpoints never contain the folded weights. Returns the model.
    """
    fuse = getattr(model, "fuse_batch_norm", None)
    if callable(fuse):
        fuse()
    return model


__all__ = ["fuse_batch_norm"]
