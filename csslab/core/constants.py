"""Names for the magic numbers of label maps, shared by every module."""

BACKGROUND = 0  # label of background pixels (and model channel 0)
IGNORE = 255  # label of pixels that no loss and no metric counts
N_DIGITS = 10  # classes of the digit sources (MNIST, Fashion-MNIST)
CLASS_NAMES = ("background",) + tuple(str(d) for d in range(N_DIGITS))
SHORT_NAMES = ("bg",) + tuple(str(d) for d in range(N_DIGITS))
