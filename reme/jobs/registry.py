"""The step registry of ReMe 0.4.x's jobs: step name -> this project's function (``reme.jobs.files``,
``reme.jobs.index``, ``reme.jobs.evolve``), filled on first use."""

from __future__ import annotations

from reme.jobs.steps import Step

__all__ = ["STEPS"]


def _registry() -> dict[str, Step]:
    from reme.jobs import evolve, files, index

    steps: dict[str, Step] = {}
    for module in (files, index, evolve):
        steps.update(module.STEPS)
    return steps


class _Steps(dict[str, Step]):
    """The step registry, filled on first use (the step modules import the store)."""

    def _fill(self) -> None:
        if not dict.__len__(self):
            self.update(_registry())

    def __contains__(self, key: object) -> bool:
        self._fill()
        return dict.__contains__(self, key)

    def __getitem__(self, key: str) -> Step:
        self._fill()
        return dict.__getitem__(self, key)


STEPS: dict[str, Step] = _Steps()
