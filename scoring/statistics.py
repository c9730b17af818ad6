"""An Inspect metric built from the naturalness statistics (one definition for logs and reports)."""

from collections.abc import Mapping

from inspect_ai.scorer import Metric, SampleScore, mean, metric, stderr

from auditgame.naturalness.stats import Statistic, as_row, evaluate


def statistics_metric(name: str, statistics: Mapping[str, Statistic]) -> Metric:
    """A metric named ``name`` reporting each statistic over the samples' score rows."""

    @metric(name=name)
    def factory() -> Metric:
        def compute(scores: list[SampleScore]) -> dict[str, float]:
            return evaluate(statistics, [as_row(s.score.value) for s in scores])

        return compute

    return factory()


@metric(name="mean")
def mean_by_role(with_stderr: bool = False) -> Metric:
    """Inspect's mean (and stderr) per sample ``role`` (``organism``, ``baseline``), never
    pooled across roles: values named ``organism``, ``baseline`` (``organism_stderr``, ...)."""
    average, error = mean(), stderr()

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        by_role: dict[str, list[SampleScore]] = {}
        for score in scores:
            role = str((score.sample_metadata or {}).get("role", "organism"))
            by_role.setdefault(role, []).append(score)
        values: dict[str, float] = {}
        for role, chosen in sorted(by_role.items(), key=lambda item: item[0] != "organism"):
            values[role] = float(average(chosen))
            if with_stderr:
                values[f"{role}_stderr"] = float(error(chosen))
        return values

    return compute
