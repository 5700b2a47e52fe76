"""Decision policies (rank, write, compact), their trajectory records, rewards and registry.

Every policy returns a ``Decision`` with its action and log-probability; see ``reme.policy.decision``.
"""
