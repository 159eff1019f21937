"""CloudWatch alarms per color: target 5xx count and p99 response time. Pure.

Missing data is not breaching: an ALB publishes nothing for an idle target group.
"""

from __future__ import annotations

from troposphere import GetAtt, Ref, Template
from troposphere.cloudwatch import Alarm, MetricDimension

from deployer.spec import Service
from deployer.synth import alb, names


def alarm_names(service: Service) -> list:
    """Every alarm of the service, ours (by Ref: their names) and the gates' own, for ECS to watch."""
    ours = [Ref(make(color)) for color in service.target_colors for make in (names.alarm_5xx, names.alarm_p99)] \
        if service.alarms.enabled else []
    return ours + list(service.release.gates.alarms)


def add_alarms(t: Template, service: Service) -> None:
    spec = service.alarms
    if not spec.enabled:
        return
    for color in service.target_colors:
        dimensions = [
            MetricDimension(Name="LoadBalancer", Value=alb.load_balancer_full_name(service, color)),
            MetricDimension(Name="TargetGroup", Value=GetAtt(names.target_group(color), "TargetGroupFullName")),
        ]
        common = dict(
            Namespace="AWS/ApplicationELB",
            Dimensions=dimensions,
            Period=spec.period,
            EvaluationPeriods=spec.evaluation_periods,
            DatapointsToAlarm=spec.datapoints_to_alarm,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
        )
        t.add_resource(
            Alarm(
                names.alarm_5xx(color),
                AlarmDescription=f"{service.name} {color}: target 5xx count >= {spec.target_5xx_count} per {spec.period}s",
                MetricName="HTTPCode_Target_5XX_Count",
                Statistic="Sum",
                Threshold=spec.target_5xx_count,
                **common,
            )
        )
        t.add_resource(
            Alarm(
                names.alarm_p99(color),
                AlarmDescription=f"{service.name} {color}: target p99 response time >= {spec.p99_ms} ms",
                MetricName="TargetResponseTime",
                ExtendedStatistic="p99",
                Threshold=spec.p99_ms / 1000.0,
                EvaluateLowSampleCountPercentile="ignore",
                **common,
            )
        )
