"""The images, checked without a Docker engine: the Dockerfile lints and its stages are consistent, every
image's entry point is in the built wheel, the slim images do without numpy and Envoy, the chart runs the
images the Dockerfile builds, and the CI workflow builds, signs and pushes all of them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from email.parser import HeaderParser
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml  # type: ignore[import-untyped]

from tests.k8s import render
from tests.k8s.conftest import Objects
from tests.k8s.objects import COMPONENTS, named, of_kind

pytestmark = pytest.mark.timeout(1800)

DOCKERFILE = render.REPO / "Dockerfile"
WORKFLOW = render.REPO / ".github" / "workflows" / "images.yml"
#: The Python services' images; each runs `python -m <module>`.
PYTHON_IMAGES = ("auth", "trade", "sync", "marketdata", "analytics", "notifications")
#: Modules only some images have: numpy in analytics, Envoy's Python packages in none.
HEAVY = {"numpy": {"analytics"}, "envoy": set(), "envoy_data_plane": set()}
DIGEST = "sha256:" + "0123456789abcdef" * 4


@dataclass
class Stage:
    """One build stage and what a container of it runs."""

    name: str
    base: str
    instructions: list[Any] = field(default_factory=list)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    user: str = ""


@cache
def stages() -> dict[str, Stage]:
    """The Dockerfile's stages by name, parsed with BuildKit's own parser, ENTRYPOINT/CMD/USER inherited."""
    result: dict[str, Stage] = {}
    current: Stage | None = None
    for instruction in dockerfile.parse_file(str(DOCKERFILE)):
        if instruction.cmd == "FROM":
            image, _, name = instruction.value
            parent = result.get(image)
            current = Stage(name=name, base=image)
            if parent is not None:
                current.entrypoint, current.cmd, current.user = parent.entrypoint, parent.cmd, parent.user
            assert name not in result, f"stage {name} defined twice"
            result[name] = current
            continue
        if current is None:
            assert instruction.cmd == "ARG", f"{instruction.cmd} before the first FROM"
            continue
        current.instructions.append(instruction)
        if instruction.cmd == "ENTRYPOINT":
            assert instruction.json, "ENTRYPOINT in exec form (signals reach the process)"
            current.entrypoint, current.cmd = tuple(instruction.value), ()
        elif instruction.cmd == "CMD":
            assert instruction.json, "CMD in exec form"
            current.cmd = tuple(instruction.value)
        elif instruction.cmd == "USER":
            current.user = instruction.value[0]
    return result


def global_args() -> dict[str, str]:
    """ARGs declared before the first FROM (the only ones a FROM line may use)."""
    args = {}
    for instruction in dockerfile.parse_file(str(DOCKERFILE)):
        if instruction.cmd == "FROM":
            break
        name, _, default = instruction.value[0].partition("=")
        args[name] = default
    return args


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The trademesh-services wheel, built as the Dockerfile's wheels stage builds it, from a copy of its folder."""
    source = tmp_path_factory.mktemp("source") / "services"
    shutil.copytree(
        render.REPO / "services", source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    )
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", out, source],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("trademesh_services-*.whl")
    return zipfile.ZipFile(built)


def wheel_text(wheel: zipfile.ZipFile, suffix: str) -> str:
    """A file of the wheel's .dist-info folder."""
    pattern = r"trademesh_services-[^/]+\.dist-info/" + re.escape(suffix)
    (name,) = [n for n in wheel.namelist() if re.fullmatch(pattern, n)]
    return wheel.read(name).decode()


def module_in_wheel(wheel: zipfile.ZipFile, module: str) -> bool:
    """Whether `python -m module` finds the module in the wheel (a package's __main__ or a module file)."""
    path = module.replace(".", "/")
    names = set(wheel.namelist())
    return f"{path}/__main__.py" in names or f"{path}.py" in names


def installed_image(objects: Objects, name: str) -> str:
    """The Dockerfile target behind an image reference of the chart (…/trademesh-<target>:tag or @digest)."""
    image: str = name
    match = re.fullmatch(r"ghcr\.io/trademesh/trademesh-([a-z-]+)(:[\w.-]+|@sha256:[0-9a-f]{64})", image)
    assert match, image
    return match.group(1)


# -- the Dockerfile ---------------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", DOCKERFILE], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_stages_refer_only_to_earlier_stages_or_declared_images() -> None:
    args = global_args()
    seen: set[str] = set()
    for name, stage in stages().items():
        reference = re.fullmatch(r"\$\{(\w+)\}", stage.base)
        if reference:
            assert reference.group(1) in args, f"{name}: FROM uses undeclared ARG {stage.base}"
            assert args[reference.group(1)], f"{name}: ARG {stage.base} has no default"
        else:
            assert stage.base in seen, f"{name}: FROM {stage.base}, which is no earlier stage"
        for instruction in stage.instructions:
            for flag in instruction.flags:
                source = re.search(r"(?:^--from=|[,=]from=)([\w.-]+)", flag)
                if source:
                    assert source.group(1) in seen, f"{name}: {instruction.original} uses a later or unknown stage"
        seen.add(name)


def test_every_component_has_its_target_non_root() -> None:
    targets = stages()
    for name in (*COMPONENTS, "web"):
        assert name in targets, f"no Dockerfile target {name}"
    for name in PYTHON_IMAGES:
        stage = targets[name]
        assert stage.entrypoint == ("python", "-m"), name
        assert stage.cmd == (f"trademesh.services.{name}",), name
        assert stage.user == "10001:10001", name
    assert targets["gateway"].entrypoint == ("envoy",)
    assert targets["gateway"].user == "10001:10001"


def test_python_images_install_the_wheel_and_nothing_else() -> None:
    for name in PYTHON_IMAGES:
        chain: list[Stage] = []
        current: Stage | None = stages()[name]
        while current is not None:
            chain.append(current)
            current = stages().get(current.base)
        commands = [i for s in chain for i in s.instructions]
        assert not [i for i in commands if i.cmd in {"COPY", "ADD"} and not i.flags], f"{name} copies source files"
        assert not [i for i in commands if i.cmd == "ENV" and "PYTHONPATH" in i.value], f"{name} sets PYTHONPATH"
        installs = [i.value[0] for i in commands if i.cmd == "RUN" and " install " in i.value[0]]
        (install,) = installs
        assert "--no-index --find-links /wheels" in install, name
        wants_numpy = name in HEAVY["numpy"]
        assert ("trademesh-services[analytics]" in install) == wants_numpy, name


# -- the wheel ------------------------------------------------------------------------------------------


def test_every_image_entry_point_is_in_the_wheel(wheel: zipfile.ZipFile, default_objects: Objects) -> None:
    for name in PYTHON_IMAGES:
        (module,) = stages()[name].cmd
        assert module_in_wheel(wheel, module), f"{name}: `python -m {module}` is not in the wheel"
    # What the chart runs: each container's module (services, jobs, the helm test pod's -c script aside).
    for kind in ("Deployment", "CronJob"):
        for obj in of_kind(default_objects, kind):
            spec = obj["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else obj["spec"]
            (container,) = spec["template"]["spec"]["containers"]
            target = installed_image(default_objects, container["image"])
            entrypoint = tuple(container.get("command", stages()[target].entrypoint))
            if entrypoint == ("python", "-m"):
                module = container["args"][0]
                assert module_in_wheel(wheel, module), f"{obj['metadata']['name']}: {module} is not in the wheel"


def test_console_scripts_are_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    declared = tomllib.loads((render.REPO / "services" / "pyproject.toml").read_text())["project"]["scripts"]
    # Every service and job has one (sync and analytics too).
    for name in (
        "auth",
        "trade",
        "sync",
        "marketdata",
        "analytics",
        "notifications",
        "analytics-recompute",
        "sync-schedule",
    ):
        assert f"trademesh-{name}" in declared, name
    entry_points = wheel_text(wheel, "entry_points.txt")
    for script, target in declared.items():
        assert f"{script} = {target}" in entry_points, script
        module, _, function = target.partition(":")
        assert f"{module.replace('.', '/')}.py" in wheel.namelist(), target
        assert callable(getattr(import_module(module), function)), target


def test_numpy_is_optional_and_envoy_absent(wheel: zipfile.ZipFile) -> None:
    metadata = HeaderParser().parsestr(wheel_text(wheel, "METADATA"))
    requirements = metadata.get_all("Requires-Dist") or []
    for requirement in requirements:
        name = re.split(r"[\s=<>!~;\[]", requirement, maxsplit=1)[0].lower().replace("-", "_")
        assert name != "numpy", requirement
        assert not name.startswith("envoy"), requirement
        if name == "trademesh_kernel" and "columnar" in requirement:
            # numpy comes with the kernel's columnar extra, only for the analytics image.
            assert 'extra == "analytics"' in requirement, requirement
    assert "analytics" in set(metadata.get_all("Provides-Extra") or [])


def test_slim_images_run_without_numpy_and_envoy(default_objects: Objects) -> None:
    """Import what each image runs with the packages it lacks made unimportable."""
    modules: dict[str, set[str]] = {name: {f"trademesh.services.{name}.server"} for name in PYTHON_IMAGES}
    for cron in of_kind(default_objects, "CronJob"):
        (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        target = installed_image(default_objects, container["image"])
        if "args" in container and "command" not in container:
            modules[target].add(container["args"][0])
    for image, imported in modules.items():
        missing = sorted(package for package, images in HEAVY.items() if image not in images)
        script = (
            "import importlib.abc, sys\n"
            "class Missing(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {missing!r}:\n"
            "            raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, Missing())\n" + "".join(f"import {module}\n" for module in sorted(imported))
        )
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False, env=env
        )
        assert result.returncode == 0, f"{image} image without {missing}:\n{result.stderr}"


# -- the chart's images -------------------------------------------------------------------------------------


def test_chart_runs_each_component_from_its_own_image(default_objects: Objects) -> None:
    for name in COMPONENTS:
        (container,) = named(default_objects, "Deployment", f"trademesh-{name}")["spec"]["template"]["spec"][
            "containers"
        ]
        assert container["image"] == f"ghcr.io/trademesh/trademesh-{name}:0.1.0", name
    for cron in of_kind(default_objects, "CronJob"):
        (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        assert installed_image(default_objects, container["image"]) in stages(), cron["metadata"]["name"]
    (test_pod,) = of_kind(default_objects, "Pod")
    (container,) = test_pod["spec"]["containers"]
    # The helm test script imports grpc and the SDK: a service image has both.
    assert installed_image(default_objects, container["image"]) in PYTHON_IMAGES


def test_chart_pulls_images_by_digest_when_given(k8s_tools: None) -> None:
    settings = ",".join(f"{name}.image.digest={DIGEST}" for name in COMPONENTS)
    objects = render.load_objects(render.helm_template("--set", settings, "--set", "gateway.image.repository=r/gw"))
    images = set()
    for kind in ("Deployment", "CronJob", "Pod"):
        for obj in of_kind(objects, kind):
            spec = obj["spec"]
            if kind == "CronJob":
                spec = spec["jobTemplate"]["spec"]["template"]["spec"]
            elif kind == "Deployment":
                spec = spec["template"]["spec"]
            images |= {container["image"] for container in spec["containers"]}
    expected = {f"ghcr.io/trademesh/trademesh-{name}@{DIGEST}" for name in PYTHON_IMAGES} | {f"r/gw@{DIGEST}"}
    assert images == expected


def test_bad_digest_is_rejected(k8s_tools: None) -> None:
    with pytest.raises(subprocess.CalledProcessError) as failure:
        render.helm_template("--set", "auth.image.digest=latest")
    assert "digest" in failure.value.stderr


# -- the CI workflow ------------------------------------------------------------------------------------


def test_workflow_passes_actionlint() -> None:
    subprocess.run(["bash", render.REPO / "scripts" / "install-ci-tools.sh"], check=True, timeout=900)
    result = subprocess.run(
        [render.TOOLS / "actionlint", "-no-color", WORKFLOW], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_builds_signs_and_pushes_every_image_and_the_chart() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    image = jobs["image"]
    assert set(image["strategy"]["matrix"]["component"]) == {*COMPONENTS, "web"}
    assert image["permissions"]["id-token"] == "write", "keyless signing needs the OIDC token"
    steps = image["steps"]
    (build,) = [s for s in steps if s.get("uses", "").startswith("docker/build-push-action@")]
    assert build["with"]["target"] == "${{ matrix.component }}"
    assert set(build["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["with"]["sbom"] is True
    assert any(s.get("uses", "").startswith("anchore/sbom-action@") for s in steps)
    script = "\n".join(s.get("run", "") for s in steps)
    assert "cosign sign --yes" in script
    assert "cosign attest --yes --type spdxjson" in script
    chart = "\n".join(s.get("run", "") for s in jobs["chart"]["steps"])
    for name in COMPONENTS:
        assert name in chart, f"the chart job does not pin {name}'s digest"
    assert ".image.digest" in chart
    assert "helm package" in chart
    assert "helm push" in chart
    assert "cosign sign --yes" in chart
