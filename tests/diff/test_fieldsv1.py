"""managedFields (FieldsV1) decoding and attribution."""

from __future__ import annotations

from auditor.diff.fieldsv1 import Ownership, decode_fields_v1, decode_managed_fields, decode_segment


def test_decode_segments() -> None:
    assert decode_segment("f:spec") == "spec"
    assert decode_segment('k:{"protocol":"TCP","containerPort":80}') == "[containerPort=80,protocol=TCP]"
    assert decode_segment('v:"example.com/finalizer"') == "[example.com/finalizer]"
    assert decode_segment("v:3") == "[3]"
    assert decode_segment("i:2") == "[2]"
    assert decode_segment(".") is None


def test_decode_trie() -> None:
    fields = {
        "f:metadata": {"f:annotations": {".": {}, "f:a": {}}, "f:finalizers": {".": {}, 'v:"x"': {}}},
        "f:spec": {
            "f:replicas": {},
            "f:template": {"f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}},
                                                        'k:{"name":"side"}': {".": {}}}}},
            "f:emptyOnly": {".": {}},
        },
    }
    paths = decode_fields_v1(fields)
    c = ("spec", "template", "spec", "containers")
    assert paths == {
        ("metadata", "annotations", "a"),
        ("metadata", "finalizers", "[x]"),
        ("spec", "replicas"),
        (*c, "[name=web]"), (*c, "[name=web]", "image"),
        (*c, "[name=side]"),
        ("spec", "emptyOnly"),
    }
    # A map's "." next to children only says the manager created the map: not owned as a whole.
    assert ("metadata", "annotations") not in paths


def entry(manager: str, time: str, fields: dict, sub: str = "", op: str = "Update") -> dict:
    e = {"manager": manager, "operation": op, "time": time, "fieldsType": "FieldsV1", "fieldsV1": fields}
    if sub:
        e["subresource"] = sub
    return e


def test_ownership_credits_the_latest_writer_and_skips_status() -> None:
    body = {"metadata": {"managedFields": [
        entry("kustomize-controller", "2026-11-20T00:00:00Z", {"f:spec": {"f:replicas": {}, "f:rules": {}}},
              op="Apply"),
        entry("kubectl-edit", "2026-11-19T00:00:00Z", {"f:spec": {"f:replicas": {}}}),
        entry("kube-controller-manager", "2026-11-21T00:00:00Z", {"f:spec": {"f:replicas": {}}}, sub="status"),
        {"manager": "legacy", "fieldsType": "FieldsV0", "fieldsV1": {}},
    ]}}
    entries = decode_managed_fields(body)
    assert [e.manager for e in entries] == ["kustomize-controller", "kubectl-edit", "kube-controller-manager"]
    own = Ownership(entries, {"kustomize-controller": 0, "kube-controller-manager": 1})
    # The later apply owns the value, not the earlier edit; status writes never count.
    assert own.owner(("spec", "replicas")).manager == "kustomize-controller"
    # Atomic list walked by index: the owner of the list explains the field inside it.
    assert own.owner(("spec", "rules", "[0]", "verbs")).manager == "kustomize-controller"
    assert own.owner(("spec", "other")) is None
    assert own.owner_below(("spec",)).manager in ("kustomize-controller", "kubectl-edit")
    assert {e.manager for e in own.owners_exact(("spec", "replicas"))} == {"kustomize-controller", "kubectl-edit"}


def test_owned_values_walks_live_and_desired() -> None:
    from auditor.diff.fieldsv1 import owned_values

    live = {"spec": {"replicas": 3, "ports": [{"port": 80, "protocol": "TCP", "name": "http"}],
                     "tags": ["a", "b"], "gone": None}}
    desired = {"spec": {"ports": [{"port": 80}], "tags": ["a"], "replicas": None}}
    fields = {"f:spec": {"f:replicas": {}, "f:missing": {},
                         "f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}}},
                         "f:tags": {'v:"a"': {}, 'v:"b"': {}}}}
    got = {p: (v, in_git) for p, v, _parent, in_git in owned_values(fields, live, desired)}
    assert got == {
        ("spec", "replicas"): (3, False),                       # null in git means unset
        ("spec", "ports", "[port=80,protocol=TCP]"): ({"port": 80, "protocol": "TCP", "name": "http"}, True),
        ("spec", "ports", "[port=80,protocol=TCP]", "name"): ("http", False),
        ("spec", "tags", "[a]"): ("a", True),
        ("spec", "tags", "[b]"): ("b", False),
    }


def test_owned_values_empty_values_in_git() -> None:
    from auditor.diff.fieldsv1 import owned_values

    values: dict[str, object] = {"none": None, "str": "", "map": {}, "list": [], "zero": 0, "false": False,
                                 "zerof": 0.0, "text": "x"}
    fields = {"f:spec": {f"f:{k}": {} for k in values}}
    live = {"spec": {k: "live" for k in values}}
    desired = {"spec": values}
    # "" {} [] null are not set in git; 0, false and 0.0 are values git sets.
    unset = {("spec", "none"), ("spec", "str"), ("spec", "map"), ("spec", "list")}
    got = {p: in_git for p, _v, _parent, in_git in owned_values(fields, live, desired)}
    assert got == {("spec", k): ("spec", k) not in unset for k in values}
    # empty_is_set (server-side apply sends `emptyDir: {}`): only null is not set.
    got = {p: in_git for p, _v, _parent, in_git in owned_values(fields, live, desired, empty_is_set=True)}
    assert got == {("spec", k): k != "none" for k in values}
