"""Block libraries shared by several families (one layer below them): a family may import
these, never another family."""
