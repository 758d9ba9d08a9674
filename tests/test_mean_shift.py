"""The mean-shift machinery pinned on tiny inputs: EMA, bank order, constraints, k-means,
the loss, and the rules' allowed neighbours."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ucdbench.api import ViewBatch
from ucdbench_plugins.methods.mean_shift.rules import ConfidentPseudoLabel, OwnTarget, SameCluster, TwoQueues
from ucdbench_plugins.shared.mean_shift.bank import MemoryBank
from ucdbench_plugins.shared.mean_shift.constraints import distances, nearest, nearest_in_other_space, same_group
from ucdbench_plugins.shared.mean_shift.kmeans import kmeans
from ucdbench_plugins.shared.mean_shift.networks import MomentumPair, ema_update
from ucdbench_plugins.shared.epoch_sgd import cosine_lr
from ucdbench_plugins.shared.mean_shift.training import TrainingState, mean_shift_loss, purity

CPU = torch.device("cpu")


def test_the_ema_update_moves_parameters_and_leaves_buffers():
    online, target = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    with torch.no_grad():
        online.weight.copy_(torch.tensor([1.0, 3.0]))
        target.weight.copy_(torch.tensor([0.0, 1.0]))
        online.running_mean.fill_(9.0)
    ema_update(online, target, 0.9)
    assert torch.allclose(target.weight, torch.tensor([0.1, 1.2]))  # 0.9 · t + 0.1 · q
    assert torch.equal(target.running_mean, torch.zeros(2))


def test_the_target_starts_as_a_frozen_copy_of_the_online_network():
    pair = MomentumPair(nn.Linear(3, 8), 8)
    assert pair.projection_dim == 2
    for (name, p), (_, t) in zip(pair.online.named_parameters(), pair.target.named_parameters()):
        assert torch.equal(p, t) and not t.requires_grad, name


def test_the_bank_overwrites_its_oldest_entries_in_order_and_wraps():
    bank = MemoryBank(5, 2, torch.Generator().manual_seed(0), CPU)
    assert bank.labels.tolist() == [-1] * 5
    first = F.normalize(torch.ones(3, 2), dim=1)
    assert bank.enqueue(first, torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), torch.tensor([10, 11, 12])).tolist() == [0, 1, 2]
    slots = bank.enqueue(first, torch.tensor([3, 4, 5]), torch.tensor([3, 4, 5]), torch.tensor([13, 14, 15]))
    assert slots.tolist() == [3, 4, 0]
    assert bank.labels.tolist() == [5, 1, 2, 3, 4]
    assert bank.index.tolist() == [15, 11, 12, 13, 14]
    assert bank.pointer == 1


def test_nearest_returns_only_allowed_entries():
    dist = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    allowed = torch.tensor([[False, True, False, True]])
    assert nearest(dist, 2).tolist() == [[0, 1]]
    assert sorted(nearest(dist, 2, allowed).tolist()[0]) == [1, 3]


def test_same_group_allows_the_query_group_and_everything_for_a_query_without_one():
    allowed = same_group(torch.tensor([1, -2]), torch.tensor([1, 0, -1, 1]))
    assert allowed.tolist() == [[True, False, False, True], [True, True, True, True]]


def test_the_second_space_allows_the_k_prime_nearest_valid_entries():
    other = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.6, 0.8]])
    valid = torch.tensor([True, False, True, True])
    allowed = nearest_in_other_space(other[:1], other, valid, 2)
    assert allowed.tolist() == [[True, False, True, False]]  # entry 1 is not valid, 3 is third


def test_kmeans_finds_two_separated_clusters_from_any_start():
    points = torch.cat([torch.randn(10, 2, generator=torch.Generator().manual_seed(s)) * 0.01 + c
                        for s, c in enumerate([torch.tensor([5.0, 0.0]), torch.tensor([-5.0, 0.0])])])
    for seed in range(5):
        assignment = kmeans(points, 2, torch.Generator().manual_seed(seed))
        assert len(set(assignment[:10].tolist())) == 1 and len(set(assignment[10:].tolist())) == 1
        assert assignment[0] != assignment[10]
    assert sorted(kmeans(points[:3], 8, torch.Generator().manual_seed(0)).tolist()) == [0, 1, 2]  # at most N clusters


def test_the_loss_is_the_mean_of_2_minus_2_cos_over_the_neighbours():
    bank = MemoryBank(3, 2, torch.Generator().manual_seed(0), CPU)
    bank.embeddings = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    query = torch.tensor([[1.0, 0.0]])
    assert mean_shift_loss(query, bank, torch.tensor([[0, 1]])).item() == 1.0   # (0 + 2) / 2
    assert mean_shift_loss(query, bank, torch.tensor([[2]])).item() == 4.0
    assert torch.allclose(distances(query, bank.embeddings), torch.tensor([[0.0, 2.0, 4.0]]))


def test_purity_counts_neighbours_with_the_query_label():
    bank = MemoryBank(4, 2, torch.Generator().manual_seed(0), CPU)
    bank.true_labels = torch.tensor([1, 1, 0, -1])
    assert purity(torch.tensor([1]), bank, torch.tensor([[0, 1, 2, 3]])) == 0.5


def test_the_cosine_schedule_starts_at_the_base_rate_and_halves_midway():
    assert cosine_lr(0.05, 0, 10) == 0.05
    assert abs(cosine_lr(0.05, 5, 10) - 0.025) < 1e-12


def _state(num_train: int, bank_size: int, dim: int = 2) -> TrainingState:
    generator = torch.Generator().manual_seed(0)
    return TrainingState(pair=None, bank=MemoryBank(bank_size, dim, generator, CPU),
                         pool=F.normalize(torch.randn(num_train, dim, generator=generator), dim=1),
                         generator=generator, device=CPU, task=None, config={})


def _batch(index, labels):
    index, labels = torch.tensor(index), torch.tensor(labels)
    return ViewBatch(index, None, None, labels, labels)


def _enqueue(state, rule, batch, target):
    slots = state.bank.enqueue(target, batch.label, batch.true_label, batch.index)
    state.pool[batch.index] = target
    rule.observe(state, batch, target, slots)


def test_byol_allows_only_the_query_own_target():
    state, rule = _state(4, 6), OwnTarget()
    rule.start(state)
    batch = _batch([2, 3], [0, 1])
    _enqueue(state, rule, batch, F.normalize(torch.ones(2, 2), dim=1))
    allowed = rule.allowed(state, batch, torch.ones(2, 2))
    assert allowed.nonzero().tolist() == [[0, 0], [1, 1]]


def test_two_queues_allow_the_entries_nearest_by_their_previous_embeddings():
    state, rule = _state(3, 6), TwoQueues(k_prime=1)
    rule.start(state)
    east, north = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    # first visits: images 0 and 1 point east, image 2 north
    for image, vector in ((0, east), (1, east), (2, north)):
        _enqueue(state, rule, _batch([image], [image]), vector)
    # second visits: the previous embeddings are the first ones
    for image, vector in ((0, north), (1, north), (2, east)):
        _enqueue(state, rule, _batch([image], [image]), vector)
    allowed = rule.allowed(state, _batch([0], [0]), north)
    chosen = state.bank.index[allowed[0]].tolist()
    assert chosen and set(chosen) <= {0, 1}       # only images whose previous embedding was east, as image 0's
    assert not allowed[0, state.bank.index == 2].any()


def test_same_cluster_allows_only_bank_entries_of_the_query_cluster():
    state, rule = _state(4, 4), SameCluster(clusters=2)
    rule.start(state)
    rule.assignment = torch.tensor([0, 1, 0, 1])
    _enqueue(state, rule, _batch([0, 1, 2, 3], [0, 0, 0, 0]), F.normalize(torch.randn(4, 2), dim=1))
    allowed = rule.allowed(state, _batch([2], [0]), torch.ones(1, 2))
    assert state.bank.index[allowed[0]].tolist() == [0, 2]


# --------------------------------------------------------------------------------------------
# cmsf-semi's pseudo-labels: the MLP trains after each epoch, and confident ones constrain
# --------------------------------------------------------------------------------------------

PSEUDO_CLASSES, PER_CLASS, LABELLED_PER_CLASS = 3, 8, 4


def _pseudo_label_setup() -> tuple[TrainingState, ConfidentPseudoLabel, torch.Tensor, torch.Tensor]:
    """Three classes of eight images near three axes of R⁴ (the first four of each labelled),
    and two unlabelled images between classes: the rule's state after a first epoch has shown
    it every image. Returns the state, the rule, the embeddings and the clean labels."""
    torch.manual_seed(0)  # the MLP's initialisation
    generator = torch.Generator().manual_seed(3)
    clean = torch.arange(PSEUDO_CLASSES).repeat_interleave(PER_CLASS)
    embeddings = torch.eye(4)[clean] + 0.1 * torch.randn(len(clean), 4, generator=generator)
    between = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])  # classes 0 and 1; no class's axis
    embeddings, clean = F.normalize(torch.cat([embeddings, between]), dim=1), torch.cat([clean, torch.tensor([0, 2])])
    labels = torch.where((torch.arange(len(clean)) % PER_CLASS < LABELLED_PER_CLASS) & (torch.arange(len(clean))
                         < PSEUDO_CLASSES * PER_CLASS), clean, torch.full_like(clean, -1))
    state = _state(len(clean), 64, dim=4)
    rule = ConfidentPseudoLabel(PSEUDO_CLASSES, confidence=0.85, pseudo_epochs=100)
    rule.start(state)
    _enqueue(state, rule, ViewBatch(torch.arange(len(clean)), None, None, labels, clean), embeddings)
    return state, rule, embeddings, clean


def test_with_fewer_than_two_labelled_images_the_pseudo_labeller_does_not_train():
    state, rule, embeddings, clean = _pseudo_label_setup()
    rule.known[1:] = -1  # one labelled image
    before = {name: p.clone() for name, p in rule.head.state_dict().items()}
    rule.end_epoch(state)
    assert all(torch.equal(before[name], p) for name, p in rule.head.state_dict().items())


def test_after_an_epoch_the_pseudo_labeller_labels_confident_unlabelled_images_by_hand():
    state, rule, embeddings, clean = _pseudo_label_setup()
    first_epoch_groups = rule.groups.clone()
    assert (first_epoch_groups[rule.known < 0] == -1).all()  # an untrained MLP: no unlabelled image passed 0.85
    rule.end_epoch(state)  # two or more labelled images: the MLP trains on their latest embeddings

    unlabelled = (rule.known < 0).nonzero().squeeze(1)
    members = unlabelled[unlabelled < PSEUDO_CLASSES * PER_CLASS]
    rule.head.eval()
    with torch.no_grad():
        probability, predicted = F.softmax(rule.head(embeddings[unlabelled]), dim=1).max(dim=1)
    # the unlabelled members of each class are near its labelled ones: confidently that class
    in_class = probability[: len(members)]
    assert (in_class >= 0.85).all() and torch.equal(predicted[: len(members)], clean[members])

    # a threshold at one image's own confidence: that image and every more confident one get a pseudo-label
    rule.confidence = float(probability.sort().values[2])
    batch = ViewBatch(unlabelled, None, None, torch.full_like(unlabelled, -1), clean[unlabelled])
    slots = state.bank.enqueue(embeddings[unlabelled], batch.label, batch.true_label, batch.index)
    rule.observe(state, batch, embeddings[unlabelled], slots)
    expected = torch.where(probability >= rule.confidence, predicted, torch.full_like(predicted, -1))
    assert torch.equal(rule.groups, expected)
    assert int((expected == -1).sum()) == 2 and int((expected >= 0).sum()) == len(unlabelled) - 2
    assert torch.equal(state.bank.labels[slots], expected)  # bank entries keep the label they entered with
    confident = expected >= 0
    right = int((predicted[confident] == clean[unlabelled][confident]).sum())
    assert state.metrics["pseudo_label_accuracy"] == pytest.approx(100.0 * right / int(confident.sum()))


def test_a_labelled_image_keeps_its_label_whatever_the_pseudo_labeller_says():
    state, rule, embeddings, clean = _pseudo_label_setup()
    rule.end_epoch(state)
    image = torch.tensor([0])  # labelled, near class 0: give it the (noisy) label 2
    batch = ViewBatch(image, None, None, torch.tensor([2]), clean[image])
    slots = state.bank.enqueue(embeddings[image], batch.label, batch.true_label, batch.index)
    rule.observe(state, batch, embeddings[image], slots)
    assert rule.groups.tolist() == [2] and state.bank.labels[slots].tolist() == [2]


def _lloyd(points: list[float], centres: list[float], iterations: int) -> list[int]:
    """Lloyd's algorithm on numbers, written out: nearest centre (the first on a tie), then each
    centre to the mean of its points; a centre with none stays."""
    def nearest(x: float) -> int:
        return min(range(len(centres)), key=lambda c: (abs(x - centres[c]), c))

    for _ in range(iterations):
        labels = [nearest(x) for x in points]
        centres = [sum(x for x, l in zip(points, labels) if l == c) / labels.count(c) if c in labels else centres[c]
                   for c in range(len(centres))]
    return [nearest(x) for x in points]


def test_kmeans_is_lloyd_s_from_centres_the_run_s_generator_draws():
    # numbers on which, from some of these starts, a centre is left with one point away from it,
    # and, with a point drawn twice, one where a centre that loses every point must keep its place
    for points in ([1.7, 2.6, 3.8, 4.4, 8.5, 8.9, 9.1, 10.6, 11.8, 17.8, 18.5, 19.0],
                   [1.3, 1.3, 4.2, 7.6, 9.4, 9.8, 11.4, 15.2, 16.0, 17.9]):
        tensor = torch.tensor(points)[:, None]
        for seed in range(4):
            torch.manual_seed(100 + seed)  # the global generator must not matter
            first = torch.randperm(len(points), generator=torch.Generator().manual_seed(seed))[:5].tolist()
            expected = _lloyd(points, [points[i] for i in first], 20)
            torch.manual_seed(200 + seed)
            assert kmeans(tensor, 5, torch.Generator().manual_seed(seed)).tolist() == expected, (points, seed)


def test_a_centre_that_loses_every_point_stays_where_it_was():
    # every point the same: the second centre ties with the first and loses every point, every time
    assert kmeans(torch.zeros(3, 2), 2, torch.Generator().manual_seed(0)).tolist() == [0, 0, 0]


def test_the_second_space_searches_valid_entries_only():
    # entry 1 is nearest in the second space but not valid: the 2 nearest valid ones are 0 and 2
    other = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.8, 0.6], [0.6, 0.8]])
    valid = torch.tensor([True, False, True, True])
    assert nearest_in_other_space(other[:1], other, valid, 2).tolist() == [[True, False, True, False]]


def test_distances_are_2_minus_2_cos_of_unit_vectors():
    a = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    assert distances(a, b).flatten().tolist() == pytest.approx([0.0, 2.0, 4.0, 2 - 1.2, 2 - 1.6, 2 + 1.2])
