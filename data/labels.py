"""The label sets of the datasets `dfer` reads: one definition each, in the order the models' outputs use."""

# The package's label order for the seven basic emotions (DFEW's own); every source with these classes
# (DFEW, FERV39k) is mapped into it by class name.
EMOTION_LABELS = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")

__all__ = ["EMOTION_LABELS"]
