using OpenExec.Core.Receipts;

namespace OpenExec.Core.Tests.Receipts;

public sealed class KeyBindingTests
{
    [Fact]
    public void A_key_vouches_for_the_gateways_that_sign_with_it_or_for_any_when_they_are_not_known()
    {
        Assert.True(KeyBinding.Signs(["gw-a", "gw-b"], "gw-b"));
        Assert.False(KeyBinding.Signs(["gw-a"], "gw-b"));
        Assert.False(KeyBinding.Signs(["gw-a"], "GW-A"));
        Assert.True(KeyBinding.Signs(null, "gw-b"));
    }

    [Fact]
    public void Two_listings_of_a_key_merge_into_their_union_and_an_unknown_one_stays_unknown()
    {
        // A listing read while another instance had not registered the key yet (a Redis that lost
        // it) must not take that instance's receipts away from a binding already known.
        Assert.Equal(["gw-a", "gw-b"], KeyBinding.Merge(["gw-b"], ["gw-a", "gw-b"]));
        Assert.Equal(["gw-a", "gw-b"], KeyBinding.Merge(["gw-a", "gw-b"], ["gw-a"]));
        Assert.Null(KeyBinding.Merge(null, ["gw-a"]));
        Assert.Null(KeyBinding.Merge(["gw-a"], null));
    }
}
