"""A synthetic telecom churn table of another shape than the development tables, to try churn's
defaults where nobody tuned them: 51 states (a many-level categorical with a small effect each),
an area code written as a number, yes/no plans, per-period minutes with their charges (exact
multiples of the minutes, so four pairs of collinear columns), and churn driven by interactions:
the total bill over a line, the international plan only together with its minutes or calls,
service calls only for light users. `True`/`False` target, no id column.

    python3 bench/plan_table.py [ROWS] [SEED] [SHARPNESS] > plans.csv
        (3,333 rows, seed 1, sharpness 1 by default; a sharpness of 3 or 8 multiplies what the
        fields add to the churn log-odds' intercept, so the rules decide more and the coin less)

Then, as a new user would (README, "A table nobody tuned for"):
    churn schema --infer plans.csv --target Churn > plans.toml
    churn evaluate --data plans.csv --schema plans.toml --folds 5 --repeats 3 --seed 0 --json --folds-out folds.csv
    $SEEDSTACK_VENV/bin/python bench/python_defaults.py plans.csv plans.toml folds.csv
Standard library only.
"""
import csv
import math
import random
import sys

STATES = ("AK AL AR AZ CA CO CT DC DE FL GA HI IA ID IL IN KS KY LA MA MD ME MI MN MO MS MT NC ND NE "
          "NH NJ NM NV NY OH OK OR PA RI SC SD TN TX UT VA VT WA WI WV WY").split()


def clip(v, lo, hi):
    return max(lo, min(hi, v))


def poisson(rng, lam):
    # Knuth's method: lam is small here.
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 3333
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    sharp = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    state_effect = {s: rng.gauss(0, 0.35) for s in STATES}
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["State", "Account length", "Area code", "International plan", "Voice mail plan",
                  "Number vmail messages", "Total day minutes", "Total day calls", "Total day charge",
                  "Total eve minutes", "Total eve calls", "Total eve charge", "Total night minutes",
                  "Total night calls", "Total night charge", "Total intl minutes", "Total intl calls",
                  "Total intl charge", "Customer service calls", "Churn"])
    for _ in range(rows):
        state = rng.choice(STATES)
        account = int(clip(rng.gauss(101, 40), 1, 243))
        area = rng.choices(["408", "415", "510"], weights=[1, 2, 1])[0]
        intl = rng.random() < 0.097
        voice = rng.random() < 0.277
        messages = int(clip(rng.gauss(29, 7.5), 4, 51)) if voice else 0
        day, day_calls = clip(rng.gauss(180, 54), 0, 351), int(clip(rng.gauss(100, 20), 0, 165))
        eve, eve_calls = clip(rng.gauss(201, 51), 0, 364), int(clip(rng.gauss(100, 20), 0, 170))
        night, night_calls = clip(rng.gauss(201, 51), 23, 395), int(clip(rng.gauss(100, 20), 33, 175))
        intl_min, intl_calls = clip(rng.gauss(10.2, 2.8), 0, 20), min(poisson(rng, 4.5), 20)
        service = poisson(rng, 1.56)
        bill = day * 0.17 + eve * 0.085 + night * 0.045 + intl_min * 0.27
        z = -3.2 + state_effect[state] + 3.5 * (bill > 74) + 1.2 * (day > 245)
        z += intl * (1.0 + 2.8 * (intl_min > 13) + 2.8 * (intl_calls < 3))
        z += -1.0 * voice + (service >= 4) * (2.8 - 0.012 * max(day - 160, 0))
        z += 0.004 * (account - 100)
        z = -3.2 + sharp * (z + 3.2)
        churn = rng.random() < 1 / (1 + math.exp(-z))
        out.writerow([state, account, area, "Yes" if intl else "No", "Yes" if voice else "No", messages,
                      f"{day:.1f}", day_calls, f"{day * 0.17:.2f}", f"{eve:.1f}", eve_calls, f"{eve * 0.085:.2f}",
                      f"{night:.1f}", night_calls, f"{night * 0.045:.2f}", f"{intl_min:.1f}", intl_calls,
                      f"{intl_min * 0.27:.2f}", service, "True" if churn else "False"])


if __name__ == "__main__":
    main()
