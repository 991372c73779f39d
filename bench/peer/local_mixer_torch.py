#!/usr/bin/env python3
"""The LocalMixer training step in PyTorch: the CPU peer of `npm run bench:peer` (bench/peer.ts).

The same network and the same training steps as this package's `fg.models.localMixer` compiled with
`fg.models.compileLocalMixer(model, {mode})`, written the way one would in PyTorch:

- **LG-FG-A** (forward gradients, activity perturbation, local greedy losses): patchify; per block the
  linear layers with parameter-free LayerNorm before and after; N(0, 1) noise u added to the tangent of
  every normalized pre-activation z (`torch.autograd.forward_ad`, one forward pass with dual numbers,
  all sites of a block perturbed at once); stop-gradients between blocks (block b's tangents reach
  only its own local head); the per-(example, patch, group) directional derivatives of the block's
  local cross-entropy in closed form from the tangent of the head's features
  (s[n,p,g] = Σ_{d∈g} ḟ[n,p,d]·e[n,d] / (P·N), e = (softmax − y)·Wᵀ); the activity estimate
  ĝ_z = credit ⊙ u ⊙ 1[post-ReLU > 0] (channel layers: s[n,p,g] of the unit's group; token mixing:
  Σ_g s[n,p,g]); the LayerNorm pull-back (torch's own layer-norm VJP) and the one-layer weight VJP
  (dW = aᵀ·ĝ_h, db = Σ ĝ_h). Heads and classifier get exact gradients (autograd on their inputs,
  detached), the classifier's ×0.1; weight decay 1e-4 on every weight of rank ≥ 2 (as this package
  does: its grouped biases [G, D/G] included); SGD with momentum 0.9, lr 0.01.
- **BP**: plain backprop of the same network (no stop-gradients in the backbone; the heads learn on
  detached block outputs), the classifier's loss training the backbone; same decay, scale, optimizer.

The token-mixing layer of blocks ≥ 1 follows the paper's official code: one LayerNorm over the channels
D, then the token FC over the patches (computed here as Wᵀ·a on the [N, P, D] layout, the same numbers
as the code's transpose → FC), then LayerNorm over D per patch.

CLI (prints one JSON line):
  /usr/bin/python3 bench/peer/local_mixer_torch.py --model M/8/16 --mode LG-FG-A --batch 128 \
      --steps 5 --warmup 1 --threads 1
  /usr/bin/python3 bench/peer/local_mixer_torch.py --check [--model M/8/16 --batch 8]

`--check`: the estimator is real, not just timing code: (1) the forward-mode directional derivative of
each block's loss (Σ s) equals ∇L·u from autograd; (2) the cosine between the mean of K LG-FG-A
estimates and the LG-BP gradient (autograd) rises towards 1 with K (E[estimate] = LG-BP gradient).

Run with /usr/bin/python3 (Debian's python3-torch), OpenBLAS as the BLAS (libopenblas0-pthread).
"""
import argparse
import json
import os
import statistics
import sys
import time

PRESETS = {
    'S/1/1': dict(input=(28, 28, 1), patch=28, blocks=1, channels=256, groups=1),
    'M/1/16': dict(input=(28, 28, 1), patch=28, blocks=1, channels=512, groups=16),
    'M/8/16': dict(input=(32, 32, 3), patch=4, blocks=4, channels=512, groups=16),
    'L/8/64': dict(input=(32, 32, 3), patch=4, blocks=4, channels=2048, groups=64),
    'L/32/64': dict(input=(224, 224, 3), patch=7, blocks=4, channels=2048, groups=64),
}
MODES = ('LG-FG-A', 'BP')
EPS = 1e-5
LR, MOMENTUM, WEIGHT_DECAY, CLASSIFIER_SCALE = 0.01, 0.9, 1e-4, 0.1


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', default='M/8/16', choices=sorted(PRESETS))
    p.add_argument('--mode', default='LG-FG-A', choices=MODES)
    p.add_argument('--batch', type=int, default=None, help='default 128 (8 with --check)')
    p.add_argument('--steps', type=int, default=5, help='timed steps (median reported)')
    p.add_argument('--warmup', type=int, default=1, help='untimed steps first')
    p.add_argument('--threads', type=int, default=1, help='torch.set_num_threads (and OpenBLAS threads)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--check', action='store_true', help='estimator cross-check instead of timing')
    p.add_argument('--compare', metavar='FILE', help='forward check: load our weights, batch and logits (JSON '
                   'written by bench/peer.ts) and print the largest |Δ logits|')
    p.add_argument('--samples', default='1,4,16,64', help='K values of --check')
    a = p.parse_args(argv)
    if a.batch is None:
        a.batch = 8 if a.check else 128
    for name in ('batch', 'steps', 'threads'):
        if getattr(a, name) < 1:
            p.error(f'--{name} must be ≥ 1')
    if a.warmup < 0:
        p.error('--warmup must be ≥ 0')
    return a


ARGS = parse_args() if __name__ == '__main__' else None
if ARGS is not None:
    # OpenBLAS reads its thread count when it loads (with torch): set it first.
    os.environ['OPENBLAS_NUM_THREADS'] = str(ARGS.threads)
    os.environ['OMP_NUM_THREADS'] = str(ARGS.threads)

import torch  # noqa: E402
import torch.autograd.forward_ad as fwAD  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def primal(t):
    """The value of a (possibly dual) tensor, without tangent: forward mode's stop-gradient."""
    return fwAD.unpack_dual(t).primal


def tangent(t):
    return fwAD.unpack_dual(t).tangent


def init_scale(shape):
    """The paper's 'kaiming' scale, as this package: min(2/√fan_in, 0.1), fan_in = shape[-2]."""
    return min(2 / shape[-2] ** 0.5, 0.1)


def layer_norm(x):
    """Parameter-free LayerNorm over the last axis."""
    return F.layer_norm(x, x.shape[-1:], None, None, EPS)


class Linear:
    """One linear layer of a block: kind 'dense' [in, out], 'group' [G, in/G, out/G] or 'token' [P, P]."""

    def __init__(self, name, kind, weight, bias):
        self.name, self.kind, self.weight, self.bias = name, kind, weight, bias

    def __call__(self, a):
        """a: the layer's input after its pre-LN ([N, P, in]; group: [N, P, G, in/G])."""
        w, b = self.weight, self.bias
        if self.kind == 'dense':
            return torch.matmul(a, w) + b
        if self.kind == 'token':  # h[n, q, d] = Σ_p W[p, q]·a[n, p, d] + b[q]
            return torch.matmul(w.t(), a) + b[:, None]
        n, p, g, i = a.shape
        at = a.reshape(n * p, g, i).transpose(0, 1)  # [G, M, in/G]
        return (torch.bmm(at, w).transpose(0, 1).reshape(n, p, g, -1)) + b

    def weight_gradients(self, a, gh):
        """One-layer VJP: the gradients of W and b from the gradient gh of the output (a, gh primal)."""
        if self.kind == 'dense':
            a2, g2 = a.reshape(-1, a.shape[-1]), gh.reshape(-1, gh.shape[-1])
            return a2.t() @ g2, g2.sum(0)
        if self.kind == 'token':
            return torch.einsum('npd,nqd->pq', a, gh), gh.sum((0, 2))
        g = a.shape[2]
        at = a.reshape(-1, g, a.shape[-1]).transpose(0, 1)
        gt = gh.reshape(-1, g, gh.shape[-1]).transpose(0, 1)
        return torch.bmm(at.transpose(1, 2), gt), gt.sum(1)


class LocalMixer:
    """The LocalMixer of `fg.models.localMixer({preset})`: same layers, shapes and initialization scheme."""

    def __init__(self, preset, classes=10, seed=0):
        s = PRESETS[preset]
        h, w, c = s['input']
        ps = s['patch']
        self.preset, self.input_shape, self.patch = preset, (h, w, c), ps
        self.patches = (h // ps) * (w // ps)
        cin, d, g = ps * ps * c, s['channels'], s['groups']
        hid = d
        self.channels, self.groups, self.classes = d, g, classes
        gen = torch.Generator().manual_seed(seed)

        def normal(*shape):
            return (torch.randn(*shape, generator=gen) * init_scale(shape)).requires_grad_()

        def zeros(*shape):
            return torch.zeros(*shape).requires_grad_()

        self.blocks = []
        for b in range(s['blocks']):
            layers = [] if b == 0 else [Linear('token', 'token', normal(self.patches, self.patches), zeros(self.patches))]
            layers.append(Linear('channel', 'dense', normal(cin if b == 0 else d, hid), zeros(hid)))
            layers.append(Linear('group', 'group', normal(g, hid // g, d // g), zeros(g, d // g)))
            self.blocks.append(layers)
        self.heads = [(normal(d, classes), zeros(classes)) for _ in self.blocks]
        self.classifier = (zeros(d, classes), zeros(classes))

    def backbone_params(self):
        return [t for layers in self.blocks for l in layers for t in (l.weight, l.bias)]

    def readout_params(self):
        return [t for head in self.heads for t in head] + list(self.classifier)

    def params(self):
        return self.backbone_params() + self.readout_params()

    def count_params(self):
        return sum(t.numel() for t in self.params())

    def patchify(self, x):
        """[N, H, W, C] → [N, P, ph·pw·C], patches row-major, features (row, column, channel)."""
        n, h, w, c = x.shape
        ps = self.patch
        x = x.reshape(n, h // ps, ps, w // ps, ps, c).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(n, self.patches, ps * ps * c)

    def site(self, layer, a, sites):
        """Linear layer with LN after it; `sites` sees (and may perturb) the normalized pre-activation z."""
        h = layer(a)
        z, mean, rstd = torch.native_layer_norm(h, h.shape[-1:], None, None, EPS)
        return sites.perturb(layer, a, h, mean, rstd, z)

    def block(self, b, x, sites=None):
        """Block b on tokens [N, P, C] → [N, P, D]; `sites` is told each site's post-ReLU activity."""
        sites = sites or NO_SITES
        layers = self.blocks[b]
        n, p = x.shape[:2]
        g = self.groups
        if b == 0:
            y0 = sites.set_active(torch.relu(self.site(layers[0], layer_norm(x), sites)))
            y1 = sites.set_active(torch.relu(self.site(layers[1], layer_norm(y0.reshape(n, p, g, -1)), sites)))
            return y1.reshape(n, p, -1)
        # token mixing (official code: one LN over D, then the token FC), LN over D per patch, ReLU
        yt = sites.set_active(torch.relu(self.site(layers[0], layer_norm(x), sites)))
        y1 = sites.set_active(torch.relu(self.site(layers[1], layer_norm(yt), sites)))
        z2 = self.site(layers[2], layer_norm(y1.reshape(n, p, g, -1)), sites)
        return sites.set_active(torch.relu(z2.reshape(n, p, -1) + x))

    def head_features(self, x):
        """Per-group LN of a block output ([N, P, D]), the local head's input."""
        n, p, d = x.shape
        return layer_norm(x.reshape(n, p, self.groups, d // self.groups)).reshape(n, p, d)

    def head_logits(self, b, features):
        w, bias = self.heads[b]
        return features.mean(1) @ w + bias

    def classifier_logits(self, x):
        w, bias = self.classifier
        return layer_norm(x.mean(1)) @ w + bias


class NoSites:
    """Sites left alone (BP, LG-BP)."""

    def perturb(self, layer, a, h, mean, rstd, z):
        return z

    def set_active(self, post):
        return post


NO_SITES = NoSites()


class ActivitySites:
    """Forward-mode activity perturbation of one block: noise on each z, what the estimate needs."""

    def __init__(self):
        self.sites = []

    def perturb(self, layer, a, h, mean, rstd, z):
        zp, zt = fwAD.unpack_dual(z)
        u = torch.randn(zp.shape)
        self.sites.append(dict(layer=layer, a=primal(a), h=primal(h), mean=primal(mean), rstd=primal(rstd), u=u))
        return fwAD.make_dual(zp, u if zt is None else zt + u)

    def set_active(self, post):
        self.sites[-1]['mask'] = (primal(post) > 0).to(post.dtype)
        return post

    def weight_gradients(self, s):
        """Gradients of every site's W, b from the per-(example, patch, group) derivatives s [N, P, G]."""
        grads = {}
        n, p, g = s.shape
        for site in self.sites:
            layer, u = site['layer'], site['u']
            if layer.kind == 'token':  # unit (n, p, d) reaches every group of patch p: Σ_g s
                gz = s.sum(-1).reshape(n, p, 1) * u
            else:  # a unit of group g at (n, p) (channel FC [N, P, H] or grouped [N, P, G, ·]): s[n, p, g]
                gz = (s.reshape(n, p, g, 1) * u.reshape(n, p, g, -1)).reshape(u.shape)
            gz = gz * site['mask'].reshape(u.shape)  # the last site's ReLU follows the residual [N, P, D]
            h = site['h']
            gh = torch.ops.aten.native_layer_norm_backward(
                gz, h, list(h.shape[-1:]), site['mean'], site['rstd'], None, None, [True, False, False])[0]
            grads[layer.weight], grads[layer.bias] = layer.weight_gradients(site['a'], gh)
        return grads


def local_derivatives(features_tangent, logits, labels, w, groups):
    """s[n, p, g] = Σ_{d∈g} ḟ[n,p,d]·e[n,d] / (P·N), e = (softmax − y)·Wᵀ (the local CE's closed form)."""
    n, p, d = features_tangent.shape
    e = (torch.softmax(logits, -1) - labels) @ w.t()
    return (features_tangent * e[:, None, :]).reshape(n, p, groups, d // groups).sum(-1) / (p * n)


def cross_entropy(logits, labels):
    return F.cross_entropy(logits, labels.argmax(-1))


def lg_fg_a_gradients(model, x, labels):
    """Gradients of every parameter for one LG-FG-A step (before decay and scales)."""
    grads = {}
    with torch.no_grad(), fwAD.dual_level():
        xb = model.patchify(x)
        per_block = []
        for b in range(len(model.blocks)):
            sites = ActivitySites()
            out = model.block(b, xb, sites)
            f = model.head_features(out)
            per_block.append((sites, primal(f), tangent(f)))
            xb = primal(out)  # stop-gradient between blocks
    # exact gradients of the heads (on their block's detached features) and of the classifier
    logits = [model.head_logits(b, fp) for b, (_, fp, _) in enumerate(per_block)]
    loss = sum(cross_entropy(l, labels) for l in logits) + cross_entropy(model.classifier_logits(xb), labels)
    readout = model.readout_params()
    grads.update(zip(readout, torch.autograd.grad(loss, readout)))
    with torch.no_grad():
        for b, (sites, _, ft) in enumerate(per_block):
            s = local_derivatives(ft, logits[b].detach(), labels, model.heads[b][0], model.groups)
            grads.update(sites.weight_gradients(s))
    return grads


def bp_gradients(model, x, labels):
    """Gradients of every parameter for one BP step: backprop of the classifier's loss (+ the heads' own)."""
    xb = model.patchify(x)
    losses = []
    for b in range(len(model.blocks)):
        xb = model.block(b, xb)
        losses.append(cross_entropy(model.head_logits(b, model.head_features(xb.detach())), labels))
    losses.append(cross_entropy(model.classifier_logits(xb), labels))
    params = model.params()
    return dict(zip(params, torch.autograd.grad(sum(losses), params)))


def lg_bp_gradients(model, x, labels):
    """The LG-BP gradient of the backbone (stop-gradient between blocks, each block its own local loss)."""
    xb = model.patchify(x)
    loss = 0
    for b in range(len(model.blocks)):
        xb = model.block(b, xb.detach())
        loss = loss + cross_entropy(model.head_logits(b, model.head_features(xb)), labels)
    params = model.backbone_params()
    return dict(zip(params, torch.autograd.grad(loss, params)))


class Trainer:
    """One training step: gradients of the mode, decay on rank ≥ 2 weights, the classifier ×0.1, SGD momentum."""

    def __init__(self, model, mode):
        self.model, self.mode = model, mode
        self.params = model.params()
        self.scaled = set(model.classifier)
        self.opt = torch.optim.SGD(self.params, lr=LR, momentum=MOMENTUM)

    def step(self, x, labels):
        grads = lg_fg_a_gradients(self.model, x, labels) if self.mode == 'LG-FG-A' else bp_gradients(self.model, x, labels)
        with torch.no_grad():
            for p in self.params:
                g = grads[p]
                if p.dim() >= 2:
                    g = g + WEIGHT_DECAY * p
                if p in self.scaled:
                    g = g * CLASSIFIER_SCALE
                p.grad = g
        self.opt.step()


def blas_info():
    """Which BLAS torch runs on (the library mapped into this process) and a 1024³ matmul's GFLOP/s."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    libs = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                name = line.split()[-1]
                if 'blas' in name.lower():
                    libs.add(os.path.basename(name))
    except OSError:
        pass
    blas = 'openblas' if any('openblas' in l for l in libs) else ('unknown' if not libs else 'other')
    return dict(blas=blas, blas_libs=sorted(libs), matmul_gflops=round(2 * 1024 ** 3 / min(times) / 1e9, 1))


def data(model, batch, seed):
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, *model.input_shape, generator=gen)
    labels = F.one_hot(torch.randint(0, model.classes, (batch,), generator=gen), model.classes).float()
    return x, labels


def bench(args):
    model = LocalMixer(args.model, seed=args.seed)
    x, labels = data(model, args.batch, args.seed)
    trainer = Trainer(model, args.mode)
    for _ in range(args.warmup):
        trainer.step(x, labels)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        trainer.step(x, labels)
        times.append((time.perf_counter() - t0) * 1000)
    finite = all(bool(torch.isfinite(p).all()) for p in model.params())
    out = dict(impl='torch', model=args.model, mode=args.mode, batch=args.batch, threads=torch.get_num_threads(),
               params=model.count_params(), ms=statistics.median(times),
               steps=[round(t, 2) for t in times], finite=finite, torch=torch.__version__, **blas_info())
    print(json.dumps(out))


def cosine(a, b):
    return float((a * b).sum() / (a.norm() * b.norm()))


def check(args):
    """The estimator cross-check (see the file comment); exits 1 if it fails."""
    torch.manual_seed(args.seed)
    model = LocalMixer(args.model, seed=args.seed)
    x, labels = data(model, args.batch, args.seed)
    ok = True

    # (1) forward mode vs autograd: Σ_{n,p,g} s of block b = d/dε L_b(z + ε·u) (the block's mean CE).
    with torch.no_grad():
        xs = [model.patchify(x)]
        for b in range(len(model.blocks)):
            xs.append(model.block(b, xs[-1]))
    for b in range(len(model.blocks)):
        sites = ActivitySites()
        with torch.no_grad(), fwAD.dual_level():
            out = model.block(b, xs[b], sites)
            f = model.head_features(out)
            s = local_derivatives(tangent(f), model.head_logits(b, primal(f)), labels, model.heads[b][0], model.groups)
        us = [site['u'] for site in sites.sites]
        leaves = []

        class Leaves(NoSites):
            def perturb(self, layer, a, h, mean, rstd, z):
                e = torch.zeros_like(z, requires_grad=True)
                leaves.append(e)
                return z + e
        lb = cross_entropy(model.head_logits(b, model.head_features(model.block(b, xs[b], Leaves()))), labels)
        dz = torch.autograd.grad(lb, leaves)
        directional = sum(float((g * u).sum()) for g, u in zip(dz, us))
        rel = abs(float(s.sum()) - directional) / max(abs(directional), 1e-30)
        ok &= rel < 1e-3
        print(json.dumps(dict(check='jvp_vs_autograd', block=b, forward_mode=float(s.sum()), autograd=directional,
                              rel_err=rel)))

    # (2) E[LG-FG-A estimate] = LG-BP gradient: cosine of the mean of K estimates rises with K.
    exact = lg_bp_gradients(model, x, labels)
    backbone = model.backbone_params()
    flat = lambda gs: torch.cat([gs[p].reshape(-1) for p in backbone])  # noqa: E731
    g_exact = flat(exact)
    largest = max(float(exact[p].norm()) for p in backbone)
    live = {p for p in backbone if float(exact[p].norm()) > 1e-4 * largest}
    ks = sorted(int(k) for k in args.samples.split(','))
    total = {p: torch.zeros_like(p) for p in backbone}
    cosines, done = [], 0
    for k in ks:
        while done < k:
            est = lg_fg_a_gradients(model, x, labels)
            for p in backbone:
                total[p] += est[p]
            done += 1
        mean = {p: total[p] / done for p in backbone}
        # per tensor, those with a gradient at all (a token bias is removed by the LN over D after it:
        # its exact gradient is 0 and its estimate pure noise)
        per_tensor = [cosine(mean[p].reshape(-1), exact[p].reshape(-1)) for p in backbone if p in live]
        cosines.append(cosine(flat(mean), g_exact))
        print(json.dumps(dict(check='cosine_vs_lg_bp', model=args.model, batch=args.batch, K=k,
                              cosine=round(cosines[-1], 4), min_tensor_cosine=round(min(per_tensor), 4))))
    rising = all(b > a for a, b in zip(cosines, cosines[1:]))
    # with K samples the cosine of an unbiased estimate grows like 1/√(1 + c/K): it must rise with K
    # and (for K ≥ 64) be clearly positive
    ok &= rising and (ks[-1] < 64 or cosines[-1] > 0.3)
    print(json.dumps(dict(check='summary', ok=bool(ok), cosine_rising=rising)))
    return 0 if ok else 1


def compare(args):
    """Our weights in the torch model: its logits (every head, the classifier) against ours."""
    with open(args.compare) as f:
        dump = json.load(f)
    model = LocalMixer(dump['model'])
    tensor = lambda d: torch.tensor(d['data'], dtype=torch.float32).reshape(d['shape'])  # noqa: E731
    named = {}
    for b, layers in enumerate(model.blocks):
        for l in layers:
            named[f'block_{b}/{l.name}_kernel'], named[f'block_{b}/{l.name}_bias'] = l.weight, l.bias
    for b, (w, bias) in enumerate(model.heads):
        named[f'head_{b}/kernel'], named[f'head_{b}/bias'] = w, bias
    named['classifier/kernel'], named['classifier/bias'] = model.classifier
    if sorted(named) != sorted(dump['weights']):
        raise SystemExit(f'weights differ: torch {sorted(named)}, ours {sorted(dump["weights"])}')
    with torch.no_grad():
        for name, p in named.items():
            p.copy_(tensor(dump['weights'][name]))
        xb = model.patchify(tensor(dump['x']))
        logits = []
        for b in range(len(model.blocks)):
            xb = model.block(b, xb)
            logits.append(model.head_logits(b, model.head_features(xb)))
        logits.append(model.classifier_logits(xb))
    ours = [tensor(t) for t in dump['logits']]
    diffs = [float((a - b).abs().max()) for a, b in zip(logits, ours)]
    print(json.dumps(dict(compare=dump['model'], max_abs_diff=max(diffs), per_output=diffs,
                          max_abs_logit=max(float(t.abs().max()) for t in ours))))


if __name__ == '__main__':
    torch.set_num_threads(ARGS.threads)
    if ARGS.compare:
        compare(ARGS)
        sys.exit(0)
    if ARGS.check:
        sys.exit(check(ARGS))
    bench(ARGS)
