"""The method, for any model that follows the masked-model protocol: exact MI, the estimator head, decoding rules."""
