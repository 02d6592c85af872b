"""Looking inside the network and the voxel: top stimuli, saliency, synthesis, receptive fields.

* :mod:`~dnnmap.interpret.targets`: what is looked at (channels or units of a layer, its
  principal components, the voxels and the mean of an ROI through their encoding model);
* :mod:`~dnnmap.interpret.top_stimuli`: the stimuli that drive each target most;
* :mod:`~dnnmap.interpret.readout`: an ROI's encoding model refitted on all stimuli and
  written as one linear read-out of the layer's units;
* :mod:`~dnnmap.interpret.heads`: network -> layer -> targets as one differentiable module;
* :mod:`~dnnmap.interpret.saliency`: gradient, guided backprop, SmoothGrad and integrated
  gradients (captum as the engine);
* :mod:`~dnnmap.interpret.synthesis`: activation maximization in a decorrelated Fourier
  image parameterization with transformation robustness;
* :mod:`~dnnmap.interpret.receptive_field`: theoretical receptive field size and stride;
* :mod:`~dnnmap.interpret.montage`: the figures.
"""
