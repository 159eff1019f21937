"""The ECS cluster, one stack per cluster so that many services can share it. Pure."""

from __future__ import annotations

from troposphere import Output, Ref, Template
from troposphere.ecs import Cluster, ClusterSetting

from deployer.synth import names


def cluster_template(cluster: str) -> Template:
    t = Template(Description=f"deployer: ECS cluster {cluster}")
    t.add_resource(
        Cluster(
            names.CLUSTER,
            ClusterName=cluster,
            ClusterSettings=[ClusterSetting(Name="containerInsights", Value="enabled")],
        )
    )
    t.add_output(Output(names.OUTPUT_CLUSTER, Value=Ref(names.CLUSTER)))
    return t
