"""mambaicl: replication of in-context learning studies of Mamba and its relatives.

Grazzi et al. 2024 ("Is Mamba Capable of In-Context Learning?") and Park et al. 2024
("Can Mamba Learn How to Learn?"), both built on Garg et al. 2022.
"""

__version__ = "0.1.0"
