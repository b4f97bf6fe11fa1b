import pytest

from pi_edge.agent.lattice import subjects


def test_actor_subject_shape() -> None:
    assert subjects.actor("default", "oled-text") == "pe.default.actor.oled-text"
    assert subjects.ctl_ping("lab") == "pe.lab.ctl.ping"
    assert subjects.event("lab", "pi-01", "started") == "pe.lab.evt.pi-01.started"


@pytest.mark.parametrize("bad", ["", "a.b", "*", ">", "has space", "x\n"])
def test_names_cannot_change_the_subject_shape(bad: str) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        subjects.actor("default", bad)
