"""The shipped recipes, one YAML file per result (read by training/recipe.py). Installed as the
package data `training.recipes`, so `main.py --recipe NAME` finds them from any install."""
