using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Store;

namespace OpenExec.Gateway.Tests.Store;

public sealed class RedisKeysTests
{
    [Fact]
    public void A_nonce_key_from_the_digest_is_the_key_from_its_hex()
    {
        // Claims are written under the digest's key; look-ups, renewals and replication build it
        // from the hex: one key either way.
        for (var i = 0; i < 100; i++)
        {
            var nonce = NonceHash.Of("default", $"nonce-{i}");
            Assert.Equal(RedisScripts.Nonce(nonce.ToString()), RedisScripts.Nonce(nonce));
            Assert.Equal(nonce.ToString(), RedisScripts.NonceOf(RedisScripts.Nonce(nonce)!));
        }
    }
}
