"""recipe="v1" is today's generator bit for bit: SHA-256 digests of pairs rendered before the
generator moved into datamodules/flow/synthetic (the code of commit 8245087), which the published
metrics of pwcnet.synth were measured on."""

from __future__ import annotations

import hashlib

import pytest
import torch

from datamodules import SyntheticFlow

#: (size, seed, index, photometric) -> SHA-256 of the float32 bytes of (image1, image2, flow),
#: recorded with ``SyntheticFlow(size, length=4, seed=seed, photometric=photometric)[index]`` of
#: datamodules/synthetic_flow.py at commit 8245087, one thread.
V1_DIGESTS = {
    ((64, 96), 0, 0, True): (
        '841c883e1a308b96ac873e114b22520bb7fba86468454e832b6f2c4e70af37d6',
        '5a03e7e7b71d714469425bb101a8e287c060b9677c9014f5632c0cbc01b0b6d4',
        'f3f3325fa9a3181cdbf0ddccf50ae8747080b4dc460e538caa1078783dfcd6ae'),
    ((64, 96), 0, 1, True): (
        'c9d96a2034bd85d74ff05018cf2aed685981bfce9b0cbeba6258c182ee4e0d69',
        '61913ff4f6d06240267ddace54f183107c5515058c3c103553f8df4ed045c9e7',
        '8648b19a7fe0f7a3d228fcdcca38dd0b73691312187de96eacf06a615898f2d3'),
    ((64, 96), 0, 2, True): (
        '4af8bfa35f385e731e23e324b83af24f50364d9669fe8fc37495790cbf180d66',
        '3633ede90129950975407cf03520a705ae9d3c0fa31839843567a3cf80c80501',
        '090cfcc2aaf85bcc73c9db8e2757c9a1b60c19a56df434ff7787b87eb89f3eca'),
    ((64, 96), 0, 3, True): (
        '1ad39df9b8dac0041898d880a7330b124ed366b920f805485be4eb9e1dd35227',
        '17369513c961d136f9b20aaee0ac50bed65a42dcfb94ba4fde74c76008894ed8',
        '5640f28670dea63e94853e83c4742ad7b3e09420c315763606bc228321129b14'),
    ((64, 96), 2, 0, True): (
        '9efc5c10b53df3d3b0e91426f21654dbde37f4db457f42acff1fc1289b595335',
        'fd7c7bed6570e7e4ab74bdd8830b46aa42754ebe7824f9c5904161048f2413cd',
        '5ca8204693d87aa9ae41f339ac720dd0c92d4977165eefdad8f9764b8f7199dc'),
    ((64, 96), 2, 1, True): (
        '71378dc04f3ace622d5f59a713acc28e34f9d35af8bbc5a09929641db674dede',
        '55de44d1b4dc201c28cbda6259327691c7f802be7fb6cb3d1a6965cbb578fb1e',
        '51a7f75cfdaf177e8f28987c2e68853310d690173eea8c93a92e5935d50129ce'),
    ((64, 96), 2, 2, True): (
        '08b0d3bf01fab67d9d856cbbbd450088cf4012592e97092007036a151ce4f107',
        '7e16a98932b9cc80828e97f3aa6364cccdc664848ab7ece58e6bc33bdb9f55bc',
        'e213dc483fc52a5ab8d9001bf7f5ffa400d2a1cbc97a455c834b4e49b1df5579'),
    ((64, 96), 2, 3, True): (
        'ec6c4450744f53ff94dcd6ece13f82440a1f258af3b6bb688bebe1fbff8a7d37',
        '6d8f94a6de65d5d7994b8d24ddc16ddcc1a33d4f13fe5eb09ceb70b409a57752',
        '73625fbae22df9951c2c2e248f127d5dcbfb88400289c3927cc85f6fff1939e6'),
    ((192, 256), 0, 0, True): (
        'f7dc4ef070a094a7a02535854e5006eb52a6d93fc514ac3b6c93a440f87597d5',
        '8f87098ccbdb2d5e55a5573b265bf810334cfd8079c1398144a80215102a3cb6',
        'c2bb78b075136b1b44420f1ea2ca238b0ddd55d621db49a68d7fcab1970b49e6'),
    ((192, 256), 0, 1, True): (
        '632ad92339be16af5e2cd581270aa609e23e0a5bb309840191f764af4e83adda',
        'b04f65d290aeb9ef9002c0d083fa2bbd87fc4ee50e95fc664de79e4a597cedff',
        '93b511ed26363257214af2720d1aa1aa6419337d3bca26512e551cceaf815c8c'),
    ((192, 256), 0, 2, True): (
        '53615d0dfb950ac17e61ffe42b1e85d0538ac1b68e8f3ea70392f88142b4d30a',
        'b442f4156ca4bc57a38b1e56c29f33d562d5ee5c5aa1e7e7598e5ababf4b088d',
        'e553d3a94087d62db5eed01d09c85fa69b88ae26560bf53b3a6f242b5e5e756e'),
    ((192, 256), 0, 3, True): (
        'c8a29403109229af670276445cd4bf55558f9d69cab430f40cf4ba48d31d4eef',
        'cab25dc2eba2558cbfc94adeb171077741ec4f8172fff59c194cde601b87a4b6',
        'd303fcc04c521f45c31951920de355396cedba31403e9b554d26b362a4f7e6bd'),
    ((192, 256), 2, 0, True): (
        'b0c065b839f5b0d6810168934a736be0623849d9056913711f74cbc1d9932265',
        '7e73a9add64d7bfb6f25194b8953a898ae86a64cb20039abb136841802e048f0',
        'd851d6c5d190cf11c6125fa0c851a782a2e656b1e95e1c5a475c3050f444d2df'),
    ((192, 256), 2, 1, True): (
        '27aff81599d78d0a2acfb95029f0b2a0bce2218670bce5de540849e8e2c2b37b',
        'eff64ae20e360a8f3dded094bc1b9c4ce0815535ee0ddcb666330067fbe6b8e8',
        '0c474674e187aa2e21f587dd80eee24b5dc8f1de094639d54c6dc13ee9c5921d'),
    ((192, 256), 2, 2, True): (
        '724d4748cb4994cb174faecf88a15272aced97e3a3337ba04297f2bd4978d103',
        '2643cdecc730218a9053b72f92b6b3361fa99bc5a0b1d7c220fe4e2a4e7a67b3',
        'ccfdd4f79d8aa84ed624de7cb90ca09c4638b3e22061c13fd39384f0584d3571'),
    ((192, 256), 2, 3, True): (
        'efc636e04ea0a424d21ab6ac948aa75dba8ff7123a75eea15085e1d4acd2d3fa',
        '3a65e5e2f950312ba33a51f2c6db5a63398d2b6ffe42048d96289502276e02fa',
        '2a0bdf0cc19785d45a4206b3e3137b3199116eb5a0473f42938061a59ab2f303'),
    ((64, 96), 7, 0, False): (
        'f9f13ebf92436fde65812f7f7be45e3861df672e185a3e0ec62cea731b223c98',
        '47721296c7d773506f3d11ee24a7c788a2b6705e406e7e3f775c232c3987e7fc',
        'd1a9bedda6ec947eb4c98e6e7d3719d93f5cfcaae340e7945cf1f0756cbf1f01'),
    ((64, 96), 7, 1, False): (
        'de56967c8154ac6cd31de974e8984dc71d55af901982dd79e9e54e81ce324193',
        '14973fa5886216015bb9f8541b694b40140131622df398388238aa99c9982a43',
        '82c79d403dac20040cc1d8edf5961d158c97b9889f55bf7ad18804770a313284'),
    ((384, 512), 2, 0, True): (
        'a16e1d0aaaf1936514edf648d2b1505debce19145eaa234b6469248ed011a03b',
        'b4fc82a9c8d4b56ee94f0a5104310d8b15bbe563af33a96ec167adca8828fba5',
        '59f81854a0d89b3e0b103941a1c9aca9e662288daf26b426432de24fa8e67687'),
    ((384, 512), 7, 0, True): (
        '5692dcd4945f51bc361016b99cab3637c8dbaf119eff663211a091f2b24f05dc',
        '1dc395ddb534d223d6f530cd1fad405abe7952704905d0043e755dde36948413',
        '820116b1bbbd3738ac23a5a94d1a9b2c00fceb92382b095f75b6fe0f9b398c5d'),
}


def _digest(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.contiguous().numpy().tobytes()).hexdigest()


@pytest.mark.parametrize("case", sorted(V1_DIGESTS), ids=str)
def test_recipe_v1_reproduces_todays_pairs_bit_for_bit(case):
    size, seed, index, photometric = case
    item = SyntheticFlow(size=size, length=4, seed=seed, photometric=photometric, recipe="v1")[index]
    assert tuple(_digest(item[key]) for key in ("image1", "image2", "flow")) == V1_DIGESTS[case]


def test_the_v1_scene_kind_is_the_v1_recipe():
    by_recipe = SyntheticFlow((64, 96), length=2, seed=0, recipe="v1")[1]
    by_scenes = SyntheticFlow((64, 96), length=2, seed=0, scenes={"layered-v1": 1})[1]
    assert all(torch.equal(by_recipe[k], by_scenes[k]) for k in ("image1", "image2", "flow"))
