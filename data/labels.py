"""The label sets of the datasets `dfer` reads: one definition each, in the order the models' outputs use."""

# The package's label order for the seven basic emotions (DFEW's own); every source with these classes
# (DFEW, FERV39k) is mapped into it by class name.
EMOTION_LABELS = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")

# MAFW's eleven single-label classes in the order of the 5-fold list files most DFER code uses (DFER-CLIP's
# `data/faces/<id> <num_frames> <label 0..10>`): the seven basic emotions in DFEW's order, then the four MAFW
# adds. The authors' own files number the classes otherwise: convert them by class name into this order (or give
# them as a manifest, whose labels are names).
MAFW_LABELS = (
    "Happiness",
    "Sadness",
    "Neutral",
    "Anger",
    "Surprise",
    "Disgust",
    "Fear",
    "Contempt",
    "Anxiety",
    "Helplessness",
    "Disappointment",
)

__all__ = ["EMOTION_LABELS", "MAFW_LABELS"]
