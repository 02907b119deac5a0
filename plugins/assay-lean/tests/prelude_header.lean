prelude
universe u v
unsafe axiom lcProof {α : Prop} : α
unsafe axiom lcCast {α : Sort u} {β : Sort v} (a : α) : β
unsafe axiom lcUnreachable {α : Sort u} : α
unsafe axiom lcErased : Type
unsafe axiom lcAny : Type
inductive Bool : Type where
  | false : Bool
  | true : Bool
inductive Eq {α : Sort u} : α → α → Prop where
  | refl (a : α) : Eq a a
axiom sorryAx (α : Sort u) (synthetic : Bool) : α
inductive True : Prop where
  | intro : True
inductive False : Prop
inductive And (a b : Prop) : Prop where
  | intro (left : a) (right : b) : And a b
inductive Iff (a b : Prop) : Prop where
  | intro (mp : a → b) (mpr : b → a) : Iff a b
axiom propext {a b : Prop} : Iff a b → Eq a b
inductive Nonempty (α : Sort u) : Prop where
  | intro (val : α) : Nonempty α
axiom Classical.choice {α : Sort u} : Nonempty α → α
init_quot
axiom Quot.sound {α : Sort u} {r : α → α → Prop} {a b : α} : r a b → Eq (Quot.mk r a) (Quot.mk r b)
opaque Lean.reduceBool (b : Bool) : Bool := b
axiom Lean.ofReduceBool (a b : Bool) (h : Eq (Lean.reduceBool a) b) : Eq a b
inductive N where
  | zero : N
  | succ (n : N) : N
noncomputable def N.add (n m : N) : N := N.rec n (fun _ r => N.succ r) m
noncomputable def N.exp2 (n : N) : N := N.rec (N.succ N.zero) (fun _ r => N.add r r) n
def c : Bool := Bool.true
noncomputable def N.double (n : N) : N := N.rec N.zero (fun _ r => N.succ (N.succ r)) n
noncomputable def N.exp2' (n : N) : N := N.rec (N.succ N.zero) (fun _ r => N.double r) n
